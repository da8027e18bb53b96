/**
 * How the OpenAPI contract test calls each documented operation on a gateway with real data: which ids fill a
 * path, the query a master-key call needs, and the key to use. Bodies are the document's own examples, with
 * their placeholder ids (`org_…`, `proj_…`, `user_…`) replaced by ids the run created.
 */

/** Ids created along the run, read by later calls. */
export interface RunIds {
  org?: string | undefined;
  project?: string | undefined;
  user?: string | undefined;
  key?: string | undefined;
  seedProject?: string | undefined;
  /** The first key of the seed-004 project (revoked by its path). */
  seedFirstKey?: string | undefined;
  /** A key issued through seed 004 (revoked by `?id=`). */
  seedIssuedKey?: string | undefined;
  registered?: { api_key: string; user_id: string } | undefined;
}

/** An operation as the document lists it. */
export interface DocumentedOperation {
  readonly method: string;
  readonly path: string;
  readonly operationId: string;
  readonly security: ReadonlyArray<Record<string, unknown>>;
}

const need = (value: string | undefined, what: string): string => {
  if (value === undefined) throw new Error(`no ${what} yet: an operation that creates it must run first`);
  return value;
};

/** Creations first (later calls use their ids), deletions last, children before their parents. */
const createdFirst = [
  'createOrganization',
  'createProject',
  'createUser',
  'createApiKey',
  'seed004CreateProject',
  'seed004CreateKey',
  'seed000Register',
  'createChatCompletion',
];
const deletedLast = [
  'seed004RevokeKeyByQuery',
  'seed004RevokeKey',
  'deleteApiKey',
  'deleteUser',
  'deleteProject',
  'deleteOrganization',
];

export function runOrder(operation: DocumentedOperation): number {
  const first = createdFirst.indexOf(operation.operationId);
  if (first !== -1) return first;
  const last = deletedLast.indexOf(operation.operationId);
  return last === -1 ? 100 : 200 + last;
}

/** `{id}` of an admin path or a seed-004 key path; `{model}` from the document's example. */
export function pathIdFor(path: string, ids: RunIds): string | undefined {
  if (path.startsWith('/v1/admin/orgs/')) return need(ids.org, 'organization');
  if (path.startsWith('/v1/admin/projects/')) return need(ids.project, 'project');
  if (path.startsWith('/v1/admin/users/')) return need(ids.user, 'user');
  if (path.startsWith('/v1/admin/api-keys/')) return need(ids.key, 'API key');
  if (path.startsWith('/api/v1/projects/api-keys/')) return need(ids.seedFirstKey, 'seed-004 key');
  return undefined;
}

/** The query each call sends (the master key names the seed-004 project; the cache names a tenant). */
export function queryFor(operationId: string, ids: RunIds): Record<string, string> {
  const seedProject = () => ({ projectId: need(ids.seedProject, 'seed-004 project') });
  switch (operationId) {
    case 'adminListCache':
    case 'adminPurgeCache':
      return { principal: 'master' };
    case 'seed004CurrentProject':
    case 'seed004ListKeys':
    case 'seed004RevokeKey':
    case 'seed004UsageCosts':
    case 'seed004UsageBudget':
      return seedProject();
    case 'seed004UsageStats':
      return { ...seedProject(), days: '7' };
    case 'seed004RevokeKeyByQuery':
      // The documented example issues the key in the admin-created project (`proj_…`).
      return { projectId: need(ids.project, 'project'), id: need(ids.seedIssuedKey, 'issued seed-004 key') };
    case 'listProjects':
    case 'listUsers':
      return { org_id: need(ids.org, 'organization') };
    case 'adminUsage':
      return { group_by: 'model' };
    case 'adminLogs':
      return { limit: '5' };
    case 'getUsage':
      return { group_by: 'day' };
    default:
      return {};
  }
}

/** The documented example with its placeholder ids replaced by this run's. */
export function withRunIds(example: unknown, ids: RunIds): unknown {
  const text = JSON.stringify(example)
    .replaceAll('"org_…"', JSON.stringify(ids.org ?? 'org_…'))
    .replaceAll('"proj_…"', JSON.stringify(ids.project ?? 'proj_…'))
    .replaceAll('"user_…"', JSON.stringify(ids.registered?.user_id ?? ids.user ?? 'user_…'));
  return JSON.parse(text);
}

/** Remembers the ids a successful call created. */
export function recordIds(operationId: string, body: unknown, ids: RunIds): void {
  const reply = body as { id?: string; data?: { id?: string; key?: { id?: string } } };
  if (operationId === 'createOrganization') ids.org = reply.id;
  if (operationId === 'createProject') ids.project = reply.id;
  if (operationId === 'createUser') ids.user = reply.id;
  if (operationId === 'createApiKey') ids.key = reply.id;
  if (operationId === 'seed004CreateProject') {
    ids.seedProject = reply.data?.id;
    ids.seedFirstKey = reply.data?.key?.id;
  }
  if (operationId === 'seed004CreateKey') ids.seedIssuedKey = reply.data?.id;
  if (operationId === 'seed000Register') ids.registered = body as RunIds['registered'];
}
