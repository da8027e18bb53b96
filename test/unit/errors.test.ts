import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { errorCatalog } from '../../src/core/errors.ts';

it('docs/errors.md lists every error code with its status and type, and nothing else', () => {
  const page = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = new Map(
    [...page.matchAll(/^\| `([a-z_]+)` \| (\d+) \| `([a-z_]+)` \|/gm)].map((match) => [
      match[1],
      { status: Number(match[2]), type: match[3] },
    ]),
  );
  for (const [code, spec] of Object.entries(errorCatalog)) {
    assert.deepEqual(
      documented.get(code),
      { status: spec.status, type: spec.type },
      `docs/errors.md row for ${code}`,
    );
  }
  assert.equal(
    documented.size,
    Object.keys(errorCatalog).length,
    'docs/errors.md has rows for codes that do not exist',
  );
});
