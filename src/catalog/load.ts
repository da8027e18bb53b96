import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { modelSpecSchema, modelsFileSchema, providerSpecSchema, providersFileSchema } from './schema.ts';
import type { Catalog, ModelSpec, ProviderSpec } from './types.ts';

/**
 * Boot-time loading of the model catalogue: read catalog/providers.yaml and catalog/models.yaml, merge the
 * config's overrides, validate every entry, check cross references, and deep-freeze the result. Every
 * problem is reported with the exact place of the bad value (`catalog/models.yaml: models[12].pricing...`).
 */

/** Thrown for any invalid catalogue file or override; `problems` holds one line per bad value. */
export class CatalogError extends Error {
  override readonly name = 'CatalogError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    const [first] = problems;
    super(
      problems.length === 1 && first !== undefined
        ? first
        : `${problems.length} problems in the model catalogue:\n  ${problems.join('\n  ')}`,
    );
    this.problems = Object.freeze([...problems]);
  }
}

/** Entries merged over the files: same shapes, matched by provider `id` or model `provider` + `id`. */
export interface CatalogOverrides {
  readonly providers?: readonly unknown[];
  readonly models?: readonly unknown[];
}

export interface LoadCatalogOptions {
  /** Directory holding providers.yaml and models.yaml; defaults to `catalog/` at the project root. */
  readonly directory?: string;
  /**
   * An override whose key matches an existing entry replaces the fields it names (nested objects such as
   * `pricing` merge key by key, arrays are replaced whole); any other override is added as a new entry.
   */
  readonly overrides?: CatalogOverrides;
}

/** Where an entry came from, for error messages: `catalog/models.yaml` + `models[3]`. */
interface Draft {
  readonly raw: unknown;
  readonly source: string;
  readonly path: string;
}

interface Located<T> {
  readonly value: T;
  readonly where: string;
}

/** Loads, merges, validates and freezes the catalogue; throws CatalogError naming every bad value. */
export function loadCatalog(options: LoadCatalogOptions = {}): Catalog {
  const directory = options.directory ?? defaultCatalogDirectory();
  const problems: string[] = [];
  const providerDrafts = readEntries(path.join(directory, 'providers.yaml'), 'providers', problems);
  const modelDrafts = readEntries(path.join(directory, 'models.yaml'), 'models', problems);

  const providerKey = (raw: unknown) => (isRecord(raw) && typeof raw.id === 'string' ? raw.id : undefined);
  const modelKey = (raw: unknown) =>
    isRecord(raw) && typeof raw.provider === 'string' && typeof raw.id === 'string'
      ? `${raw.provider}\u0000${raw.id}`
      : undefined;
  merge(providerDrafts, options.overrides?.providers ?? [], 'providers', providerKey, problems);
  merge(modelDrafts, options.overrides?.models ?? [], 'models', modelKey, problems);

  const providers = validate(providerDrafts, providerSpecSchema, problems);
  const models = validate(modelDrafts, modelSpecSchema, problems);
  if (problems.length > 0) throw new CatalogError(problems);

  const catalog = crossCheck(providers, models, problems);
  if (problems.length > 0) throw new CatalogError(problems);
  return catalog;
}

/** The model a provider serves under `idOrAlias`, or undefined when it is not catalogued. */
export function findModel(catalog: Catalog, providerId: string, idOrAlias: string): ModelSpec | undefined {
  return indexOf(catalog).byProvider.get(providerId)?.get(idOrAlias);
}

/**
 * Every catalogued model named `idOrAlias`, one per provider, in providers.yaml order (so a bare
 * `gpt-4o-mini` finds OpenAI's before any reseller's).
 */
export function findModelsById(catalog: Catalog, idOrAlias: string): ModelSpec[] {
  return [...(indexOf(catalog).byName.get(idOrAlias) ?? [])];
}

/**
 * `catalog/` at the project root. This file runs as src/catalog/load.ts (tsx) or dist/src/catalog/load.js
 * (tsc output) while the data stays at catalog/, so step out of `dist/` when compiled.
 */
function defaultCatalogDirectory(): string {
  const sourceRoot = path.resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
  const projectRoot = path.basename(sourceRoot) === 'dist' ? path.dirname(sourceRoot) : sourceRoot;
  return path.join(projectRoot, 'catalog');
}

/** The entries of one file; an unreadable or malformed file adds to `problems` and yields none. */
function readEntries(file: string, key: 'providers' | 'models', problems: string[]): Draft[] {
  const source = displayPath(file);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason =
      error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
    problems.push(`${source}: cannot read the file (${reason})`);
    return [];
  }
  const document = parseDocument(text);
  if (document.errors.length > 0) {
    for (const error of document.errors) problems.push(`${source}: ${error.message.split('\n')[0]}`);
    return [];
  }
  const schema = key === 'providers' ? providersFileSchema : modelsFileSchema;
  const parsed = schema.safeParse(document.toJS(), { reportInput: true });
  if (!parsed.success) {
    describeIssues(parsed.error.issues, { raw: undefined, source, path: '' }, problems);
    return [];
  }
  const entries: readonly unknown[] = 'providers' in parsed.data ? parsed.data.providers : parsed.data.models;
  return entries.map((raw, index) => ({ raw, source, path: `${key}[${index}]` }));
}

/** Applies overrides in order; a later override of the same entry sees the earlier ones' changes. */
function merge(
  drafts: Draft[],
  overrides: readonly unknown[],
  key: 'providers' | 'models',
  keyOf: (raw: unknown) => string | undefined,
  problems: string[],
): void {
  overrides.forEach((override, index) => {
    const draftPath = `${key}[${index}]`;
    if (!isRecord(override)) {
      problems.push(`overrides: ${draftPath}: expected an object`);
      return;
    }
    const overrideKey = keyOf(override);
    const existing =
      overrideKey === undefined ? -1 : drafts.findIndex((draft) => keyOf(draft.raw) === overrideKey);
    const target = drafts[existing];
    const raw = target === undefined ? override : deepMerge(target.raw, override);
    const draft = { raw, source: 'overrides', path: draftPath };
    if (target === undefined) drafts.push(draft);
    else drafts[existing] = draft;
  });
}

function validate<Schema extends z.ZodType>(
  drafts: readonly Draft[],
  schema: Schema,
  problems: string[],
): Located<z.output<Schema>>[] {
  const valid: Located<z.output<Schema>>[] = [];
  for (const draft of drafts) {
    const result = schema.safeParse(draft.raw, { reportInput: true });
    if (result.success) valid.push({ value: result.data, where: locate(draft.source, draft.path) });
    else describeIssues(result.error.issues, draft, problems);
  }
  return valid;
}

function describeIssues(issues: readonly z.core.$ZodIssue[], draft: Draft, problems: string[]): void {
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push(locate(draft.source, formatPath(draft.path, [...issue.path, key]), 'unknown key'));
      }
      continue;
    }
    // A missing key reaches zod as `undefined`; say so instead of "received undefined".
    let message = issue.message;
    if (issue.input === undefined && issue.code === 'invalid_type') {
      message = `missing (expected ${issue.expected})`;
    } else if (issue.input === undefined && issue.code === 'invalid_value') {
      message = `missing (${issue.message.replace(/^Invalid option: /, '')})`;
    }
    problems.push(locate(draft.source, formatPath(draft.path, issue.path), message));
  }
}

/** Provider ids unique, every model's provider known, names unique per provider, defaults catalogued. */
function crossCheck(
  providers: readonly Located<ProviderSpec>[],
  models: readonly Located<ModelSpec>[],
  problems: string[],
): Catalog {
  const providerWhere = new Map<string, string>();
  for (const { value, where } of providers) {
    const first = providerWhere.get(value.id);
    if (first === undefined) providerWhere.set(value.id, where);
    else problems.push(`${where}.id: duplicate provider id "${value.id}" (first defined at ${first})`);
  }

  // Ids are claimed before aliases, so a clash is reported on the alias, whichever entry comes first.
  const names = new Map<string, Map<string, Located<ModelSpec>>>();
  const known = models.filter(({ value, where }) => {
    if (providerWhere.has(value.provider)) return true;
    problems.push(`${where}.provider: unknown provider "${value.provider}"`);
    return false;
  });
  const claims = [
    ...known.map((located): [Located<ModelSpec>, string, string] => [
      located,
      `${located.where}.id`,
      located.value.id,
    ]),
    ...known.flatMap((located) =>
      located.value.aliases.map((alias, index): [Located<ModelSpec>, string, string] => [
        located,
        `${located.where}.aliases[${index}]`,
        alias,
      ]),
    ),
  ];
  for (const [located, at, name] of claims) {
    const provider = located.value.provider;
    const taken = names.get(provider) ?? new Map<string, Located<ModelSpec>>();
    names.set(provider, taken);
    const owner = taken.get(name);
    if (owner === undefined) {
      taken.set(name, located);
    } else if (owner === located) {
      problems.push(`${at}: "${name}" is listed twice for this model`);
    } else {
      problems.push(
        `${at}: "${name}" is already used by ${provider} model "${owner.value.id}" (${owner.where})`,
      );
    }
  }

  const order = new Map(providers.map(({ value }, index) => [value.id, index]));
  const providerMap = new Map<string, ProviderSpec>();
  for (const { value: provider, where } of providers) {
    if (providerMap.has(provider.id)) continue;
    let defaultModel = provider.defaultModel;
    if (defaultModel !== null) {
      const found = names.get(provider.id)?.get(defaultModel)?.value;
      if (found === undefined) {
        problems.push(
          `${where}.defaultModel: no model "${defaultModel}" for provider "${provider.id}" in the catalogue`,
        );
      } else if (found.mode !== 'chat') {
        problems.push(
          `${where}.defaultModel: "${defaultModel}" is an embedding model; expected a chat model`,
        );
      } else {
        // The default is sent upstream as-is, so an alias is replaced by the id the provider serves.
        defaultModel = found.id;
      }
    }
    providerMap.set(provider.id, { ...provider, defaultModel });
  }

  const sorted = models
    .map(({ value }) => value)
    .sort((a, b) => (order.get(a.provider) ?? 0) - (order.get(b.provider) ?? 0));
  return deepFreeze({ providers: providerMap, models: sorted });
}

interface CatalogIndex {
  readonly byProvider: Map<string, Map<string, ModelSpec>>;
  readonly byName: Map<string, ModelSpec[]>;
}

/** Lookup tables per catalogue; safe to cache because loaded catalogues are frozen. */
const indexes = new WeakMap<Catalog, CatalogIndex>();

function indexOf(catalog: Catalog): CatalogIndex {
  const cached = indexes.get(catalog);
  if (cached !== undefined) return cached;
  const rank = new Map([...catalog.providers.keys()].map((id, index) => [id, index]));
  const models = [...catalog.models].sort(
    (a, b) => (rank.get(a.provider) ?? rank.size) - (rank.get(b.provider) ?? rank.size),
  );
  const byProvider = new Map<string, Map<string, ModelSpec>>();
  // Ids first, so an id always wins over another model's alias in a hand-built catalogue.
  for (const pass of ['id', 'alias'] as const) {
    for (const model of models) {
      const names = byProvider.get(model.provider) ?? new Map<string, ModelSpec>();
      byProvider.set(model.provider, names);
      for (const name of pass === 'id' ? [model.id] : model.aliases)
        if (!names.has(name)) names.set(name, model);
    }
  }
  const byName = new Map<string, ModelSpec[]>();
  for (const names of byProvider.values()) {
    for (const [name, model] of names) byName.set(name, [...(byName.get(name) ?? []), model]);
  }
  const index = { byProvider, byName };
  indexes.set(catalog, index);
  return index;
}

function deepFreeze<T>(value: T): T {
  if (value instanceof Map) {
    const refuse = (): never => {
      throw new TypeError('The model catalogue is frozen');
    };
    // Object.freeze does not stop Map#set, so the mutators themselves are replaced.
    Object.defineProperties(value, {
      set: { value: refuse },
      delete: { value: refuse },
      clear: { value: refuse },
    });
    for (const item of value.values()) deepFreeze(item);
  } else if (Array.isArray(value)) {
    for (const item of value) deepFreeze(item);
  } else if (isRecord(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
  } else {
    return value;
  }
  return Object.freeze(value);
}

function deepMerge(base: unknown, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = isRecord(base) ? { ...base } : {};
  for (const [key, value] of Object.entries(override)) {
    const current = merged[key];
    merged[key] = isRecord(current) && isRecord(value) ? deepMerge(current, value) : value;
  }
  return merged;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}

function formatPath(base: string, segments: readonly PropertyKey[]): string {
  let out = base;
  for (const segment of segments) {
    out +=
      typeof segment === 'number' ? `[${segment}]` : out === '' ? String(segment) : `.${String(segment)}`;
  }
  return out;
}

function locate(source: string, at: string, message?: string): string {
  const place = at === '' ? source : `${source}: ${at}`;
  return message === undefined ? place : `${place}: ${message}`;
}

/** `catalog/models.yaml` for the shipped files; absolute paths for anything outside the working directory. */
function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative.split(path.sep).join('/');
}
