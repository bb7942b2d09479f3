import swagger, { type SwaggerTransform } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { readSchema } from '../src/package-files.js';
import { capLaiTheExample, hoSoMotCuaExample, khaiSinhExample, khaiTuExample } from './openapi-examples.js';
import { responseSchemas } from './openapi-shapes.js';

const schema = (file: string) => readSchema<{ $id: string }>(file);

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const SCHEMAS = '#/components/schemas/';

/** The Schema Object fields of OpenAPI 3.0. JSON Schema's others (`$comment`, `if`, `dependentRequired`…) are not valid there. */
const OPENAPI_30_SCHEMA_FIELDS = new Set([
  'title', 'multipleOf', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum', 'maxLength', 'minLength', 'pattern',
  'maxItems', 'minItems', 'uniqueItems', 'maxProperties', 'minProperties', 'required', 'enum', 'type', 'allOf', 'oneOf',
  'anyOf', 'not', 'items', 'properties', 'additionalProperties', 'description', 'format', 'default', 'nullable',
  'discriminator', 'readOnly', 'writeOnly', 'xml', 'externalDocs', 'example', 'deprecated', '$ref',
]);

/**
 * How @fastify/swagger writes JSON Schema's `{ type: 'null' }` for OpenAPI 3.0. In a union, client
 * generators read `nullable` on the union instead (openapi-typescript 6 fails on this form).
 */
const isNullOnly = (schema: Json) => schema.nullable === true && Array.isArray(schema.enum) && schema.enum.length === 1 && schema.enum[0] === null;

/** `dependentRequired` has no OpenAPI 3.0 form, so a client reads it in the description. */
function describeDependentRequired(dependent: Record<string, string[]>): string {
  const byRequired = new Map<string, string[]>();
  for (const [field, required] of Object.entries(dependent)) {
    const key = required.join(' and ');
    byRequired.set(key, [...(byRequired.get(key) ?? []), field]);
  }
  return [...byRequired].map(([required, fields]) => `${required} is required with any of ${fields.join(', ')}.`).join(' ');
}

/**
 * A schema as OpenAPI 3.0 allows it: keywords it lacks are left out. That only loosens what the
 * document says (the gateway still checks them); an `allOf` member left empty by it says nothing.
 */
function toOpenApi30Schema(schema: Json): Json {
  const result: Json = {};
  for (const [key, value] of Object.entries(schema)) {
    if (!OPENAPI_30_SCHEMA_FIELDS.has(key) && !key.startsWith('x-')) continue;
    if (key === 'properties' && isObject(value)) {
      result[key] = Object.fromEntries(Object.entries(value).map(([name, property]) => [name, toOpenApi30Schema(property as Json)]));
    } else if ((key === 'items' || key === 'not' || key === 'additionalProperties') && isObject(value)) {
      result[key] = toOpenApi30Schema(value);
    } else if ((key === 'allOf' || key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      const members = value.map((member: Json) => toOpenApi30Schema(member));
      const kept = key === 'allOf' ? members.filter((member) => Object.keys(member).length > 0) : members.filter((member) => !isNullOnly(member));
      if (kept.length < members.length && key !== 'allOf') result.nullable = true;
      if (kept.length > 0) result[key] = kept;
    } else {
      result[key] = value;
    }
  }
  if (isObject(schema.dependentRequired)) {
    const said = describeDependentRequired(schema.dependentRequired as Record<string, string[]>);
    result.description = typeof result.description === 'string' ? `${result.description} ${said}` : said;
  }
  return result;
}

/** The Schema Objects an operation holds itself (parameters, bodies, answers, headers), made OpenAPI 3.0. */
function toOpenApi30Operation(operation: Json): void {
  const convert = (holder: unknown) => {
    if (isObject(holder) && isObject(holder.schema)) holder.schema = toOpenApi30Schema(holder.schema);
  };
  const media = (content: unknown) => Object.values(isObject(content) ? content : {}).forEach(convert);
  ((operation.parameters as unknown[] | undefined) ?? []).forEach(convert);
  if (isObject(operation.requestBody)) media(operation.requestBody.content);
  for (const response of Object.values((operation.responses as Json | undefined) ?? {})) {
    if (!isObject(response)) continue;
    media(response.content);
    Object.values((response.headers as Json | undefined) ?? {}).forEach(convert);
  }
}

function forEachRef(node: unknown, visit: (holder: Json) => void): void {
  if (Array.isArray(node)) for (const item of node) forEachRef(item, visit);
  if (!isObject(node)) return;
  if (typeof node.$ref === 'string') visit(node);
  for (const value of Object.values(node)) forEachRef(value, visit);
}

const componentOf = (ref: string) => ref.slice(SCHEMAS.length).split('/')[0] as string;

/**
 * The document as OpenAPI 3.0 clients read it. @fastify/swagger names a shared schema's `$defs`
 * `<schema>-<def>` (`common-address`); here they become type names (`CommonAddress`). Schemas no
 * route uses (the `common` container itself) are left out, and components are listed by name.
 */
function toClientDocument(document: Json): Json {
  const components = (document.components as Json).schemas as Record<string, Json>;
  const paths = document.paths as Record<string, Record<string, Json>>;
  const pascal = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);
  const rename = (name: string) => name.split('-').map(pascal).join('');
  forEachRef(document, (holder) => {
    const ref = holder.$ref as string;
    if (ref.startsWith(SCHEMAS)) holder.$ref = SCHEMAS + rename(componentOf(ref)) + ref.slice(SCHEMAS.length + componentOf(ref).length);
  });
  const renamed = Object.fromEntries(Object.entries(components).map(([name, component]) => [rename(name), component]));

  const used = new Set<string>();
  const reach = (node: unknown) => forEachRef(node, (holder) => {
    const name = componentOf(holder.$ref as string);
    if (used.has(name) || !renamed[name]) return;
    used.add(name);
    reach(renamed[name]);
  });
  reach(paths);
  (document.components as Json).schemas = Object.fromEntries(
    [...used].sort().map((name) => [name, toOpenApi30Schema(renamed[name] as Json)]),
  );
  for (const path of Object.values(paths)) {
    for (const operation of Object.values(path)) toOpenApi30Operation(operation);
  }
  return document;
}

/**
 * Who may call a route, from its `roles`; one without them is public and needs no key, unless it
 * states its own `security` (/metrics with METRICS_TOKEN set).
 */
const describeRoute: SwaggerTransform = ({ schema, url, route }) => {
  if (!schema || schema.hide) return { schema, url };
  const roles = route.config?.roles;
  if (!roles) return { schema: { ...schema, security: schema.security ?? [] }, url };
  const who = `Roles: ${roles.join(', ')}.`;
  return { schema: { ...schema, description: schema.description ? `${schema.description}\n\n${who}` : who }, url };
};

/**
 * For a route whose body fastify must not check against what /docs shows: documents `body` instead
 * of the route's own body schema.
 */
export function documentBody(body: Json): SwaggerTransform {
  return (input) => describeRoute({ ...input, schema: { ...input.schema, body } });
}

/**
 * OpenAPI at /docs, built from the route schemas. The message schemas are the files intake validates
 * with; the shared answer shapes are registered here too, so every route can refer to them by `$id`,
 * which is also their component name.
 */
async function apiDocs(app: FastifyInstance) {
  app.addSchema(schema('common.schema.json'));
  app.addSchema({ ...schema('khai-sinh.schema.json'), examples: [khaiSinhExample] });
  app.addSchema({ ...schema('khai-tu.schema.json'), examples: [khaiTuExample] });
  app.addSchema({ ...schema('ho-so-mot-cua.schema.json'), examples: [hoSoMotCuaExample] });
  app.addSchema(schema('bhxh-result.schema.json'));
  app.addSchema(schema('cap-the-te.schema.json'));
  app.addSchema(schema('bao-giam.schema.json'));
  app.addSchema({ ...schema('cap-lai-the.schema.json'), examples: [capLaiTheExample] });
  app.addSchema(schema('bhxh-cap-lai-the.schema.json'));
  for (const shape of responseSchemas) app.addSchema(shape);
  await app.register(swagger, {
    openapi: {
      info: { title: 'lienthong', description: 'Civil registry → BHXH interconnection gateway (NGSP emulation)', version: '1' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
      tags: [
        { name: 'registry', description: 'Registry systems push and fix their records' },
        { name: 'offices', description: 'BHXH offices ask for cards again (re-issue and change accounts)' },
        { name: 'bhxh', description: 'BHXH leases batches and answers them' },
        { name: 'operators', description: 'Watch the flow, replay, pause, report' },
        { name: 'audit', description: 'The append-only audit log' },
        { name: 'health', description: 'Liveness, readiness, metrics' },
      ],
    },
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`),
    },
    transform: describeRoute,
    transformObject: (documentObject) => toClientDocument((documentObject as { openapiObject: Json }).openapiObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}

export const apiDocsPlugin = fp(apiDocs, { name: 'lienthong-api-docs', fastify: '5.x' });
