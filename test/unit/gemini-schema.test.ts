import assert from 'node:assert/strict';
import { test } from 'node:test';
import { convertJsonSchema, isEmptyObjectSchema } from '../../src/providers/gemini/schema.ts';

test('supported keywords pass through unchanged, nested', () => {
  const schema = {
    type: 'object',
    title: 'Order',
    description: 'An order',
    properties: {
      items: { type: 'array', minItems: 1, maxItems: 5, items: { type: 'string', maxLength: 20 } },
      total: { type: 'number', minimum: 0, format: 'double' },
      placedAt: { type: 'string', format: 'date-time' },
    },
    required: ['items'],
  };

  assert.deepEqual(convertJsonSchema(schema), { schema, changes: [] });
});

test('unsupported keywords are removed at any depth and named with their path', () => {
  const { schema, changes } = convertJsonSchema({
    type: 'object',
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    additionalProperties: false,
    properties: {
      user: {
        type: 'object',
        additionalProperties: { type: 'string' },
        properties: { email: { type: 'string', format: 'email' } },
      },
      tags: { type: 'array', items: { type: 'string' }, uniqueItems: true },
    },
  });

  assert.deepEqual(schema, {
    type: 'object',
    properties: {
      user: { type: 'object', properties: { email: { type: 'string' } } },
      tags: { type: 'array', items: { type: 'string' } },
    },
  });
  assert.deepEqual(changes, [
    'removed $schema',
    'removed additionalProperties',
    'removed additionalProperties (at properties.user)',
    'removed format "email" (at properties.user.properties.email)',
    'removed uniqueItems (at properties.tags)',
  ]);
});

test('type lists become one type plus nullable, or anyOf for several types', () => {
  assert.deepEqual(convertJsonSchema({ type: ['integer', 'null'] }).schema, {
    type: 'integer',
    nullable: true,
  });
  assert.deepEqual(convertJsonSchema({ type: ['string', 'number'] }).schema, {
    anyOf: [{ type: 'string' }, { type: 'number' }],
  });
});

test('const becomes a one-value enum, oneOf becomes anyOf, non-string enums are removed, all reported', () => {
  const { schema, changes } = convertJsonSchema({
    type: 'object',
    properties: {
      kind: { type: 'string', const: 'circle' },
      size: { type: 'integer', enum: [1, 2, 3] },
      shape: { oneOf: [{ type: 'string' }, { type: 'object', properties: { r: { type: 'number' } } }] },
    },
  });

  assert.deepEqual(schema, {
    type: 'object',
    properties: {
      kind: { type: 'string', enum: ['circle'] },
      size: { type: 'integer' },
      shape: { anyOf: [{ type: 'string' }, { type: 'object', properties: { r: { type: 'number' } } }] },
    },
  });
  assert.equal(changes.length, 3);
  assert.match(changes.join('\n'), /const .*properties\.kind/);
  assert.match(changes.join('\n'), /non-string enum .*properties\.size/);
  assert.match(changes.join('\n'), /oneOf as anyOf .*properties\.shape/);
});

test('an object without properties is recognised as "no parameters"', () => {
  assert.equal(isEmptyObjectSchema({ type: 'object', properties: {} }), true);
  assert.equal(isEmptyObjectSchema({ type: 'object' }), true);
  assert.equal(isEmptyObjectSchema({ type: 'object', properties: { a: { type: 'string' } } }), false);
});
