// Event-type catalog: each type's JSON Schema, pretty-printed, and an example payload.
import { fail, h, listAll, pretty, startPage } from '/portal/js/api.js';

const $ = (id) => document.getElementById(id);

const STRING_FORMATS = {
  'date-time': () => new Date(0).toISOString(),
  date: () => '1970-01-01',
  email: () => 'user@example.com',
  uri: () => 'https://example.com/',
  uuid: () => '00000000-0000-0000-0000-000000000000',
};

/// An example payload for `schema`: its `examples[0]` when present, else a skeleton built
/// from `const`, `default`, `enum`, `type`, `properties` and `items` (depth-limited).
export function exampleFor(schema, depth = 0) {
  if (!schema || typeof schema !== 'object' || depth > 8) return null;
  if (Array.isArray(schema.examples) && schema.examples.length) return schema.examples[0];
  if ('const' in schema) return schema.const;
  if ('default' in schema) return schema.default;
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const variants = schema.oneOf ?? schema.anyOf ?? schema.allOf;
  if (Array.isArray(variants) && variants.length) return exampleFor(variants[0], depth + 1);
  let type = schema.type;
  if (Array.isArray(type)) type = type.find((t) => t !== 'null') ?? 'null';
  if (!type && schema.properties) type = 'object';
  switch (type) {
    case 'object': {
      const out = {};
      for (const [name, prop] of Object.entries(schema.properties ?? {})) {
        out[name] = exampleFor(prop, depth + 1);
      }
      return out;
    }
    case 'array':
      return schema.items ? [exampleFor(schema.items, depth + 1)] : [];
    case 'string':
      return (STRING_FORMATS[schema.format] ?? (() => 'string'))();
    case 'integer':
    case 'number':
      return schema.minimum ?? 0;
    case 'boolean':
      return false;
    default:
      return null;
  }
}

function card(type) {
  const id = `type-${type.name.replace(/[^a-zA-Z0-9_-]/g, '-')}`;
  const hasSchema = type.schema && typeof type.schema === 'object';
  const fromExamples = hasSchema && Array.isArray(type.schema.examples) && type.schema.examples.length > 0;
  return h('article', { class: 'event-type', id, 'aria-labelledby': `${id}-title`, 'data-name': type.name },
    h('h2', { id: `${id}-title` }, h('code', { text: type.name })),
    type.description ? h('p', { text: type.description }) : null,
    hasSchema
      ? [
        h('h3', { text: 'Schema' }),
        h('pre', { class: 'code schema', tabindex: '0', 'aria-label': `JSON Schema of ${type.name}`, text: pretty(type.schema) }),
        h('h3', { text: fromExamples ? 'Example payload (from the schema)' : 'Example payload (generated)' }),
        h('pre', { class: 'code example', tabindex: '0', 'aria-label': `Example payload of ${type.name}`, text: pretty(exampleFor(type.schema)) }),
      ]
      : h('p', { text: 'No schema: any JSON payload is accepted.' }));
}

async function main() {
  await startPage();
  const types = await listAll('/event-types');
  types.sort((a, b) => a.name.localeCompare(b.name));
  $('catalog').replaceChildren(...types.map(card));
  $('toc').replaceChildren(...types.map((t) => h('li', {},
    h('a', { href: `#type-${t.name.replace(/[^a-zA-Z0-9_-]/g, '-')}`, text: t.name }))));
  $('toc-nav').hidden = types.length === 0;
  $('empty').hidden = types.length > 0;
}

main().catch(fail);
