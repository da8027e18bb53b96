import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, parse as parseYaml } from 'yaml';

/** The repository root, where the Dockerfile and docker-compose.yml live. */
export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** A file of the repository as text; `path` is relative to the root. */
export function readRepositoryFile(path: string): string {
  return readFileSync(join(repositoryRoot, path), 'utf8');
}

/** A YAML file's single document, with `<<` merge keys resolved as Compose resolves them. */
export function readYamlFile(path: string): unknown {
  return parseYaml(readRepositoryFile(path), { merge: true });
}

/** Every document of a YAML file (a Kubernetes manifest may hold several), failing on a syntax error. */
export function readYamlDocuments(path: string): unknown[] {
  return parseAllDocuments(readRepositoryFile(path)).map((document) => {
    if (document.errors.length > 0) throw new Error(`${path}: ${document.errors[0]?.message}`);
    return document.toJS();
  });
}

/** Narrows a parsed YAML or JSON value to a mapping, naming `where` when it is not one. */
export function asRecord(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new Error(`${where}: expected a mapping, got ${JSON.stringify(value)}`);
  }
  return value as Record<string, unknown>;
}
