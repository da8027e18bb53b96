/**
 * Temporary YAML config files for gateway tests (`NEXUS_CONFIG=<path>`): model groups and anything else that
 * has no environment variable. Each file lives in its own temporary directory, removed by `remove()`.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { ConfigInput } from '../../src/config/schema.ts';

export interface TempConfigFile {
  /** Absolute path of the YAML file, for `NEXUS_CONFIG`. */
  readonly path: string;
  /** Deletes the file and its directory; safe to call twice. */
  remove(): void;
}

/** Writes `config` (an object in the config schema's input shape, or raw YAML text) to a temporary file. */
export function writeConfigFile(config: ConfigInput | string): TempConfigFile {
  const directory = mkdtempSync(join(tmpdir(), 'nexus-test-config-'));
  const path = join(directory, 'nexus.yaml');
  writeFileSync(path, typeof config === 'string' ? config : stringify(config));
  return { path, remove: () => rmSync(directory, { recursive: true, force: true }) };
}
