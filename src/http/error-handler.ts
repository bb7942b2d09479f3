import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { isConnectionError } from '../availability.js';
import { GatewayError, unavailable, type ErrorDetail } from '../errors.js';

/** Fastify's own errors, and infrastructure ones, in the catalogue's terms. */
export function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const fastifyError = error as FastifyError & { validationContext?: string };
  if (fastifyError.validation) {
    const context = fastifyError.validationContext ?? 'body';
    const prefix = context === 'body' ? '' : `/${context}`;
    const details: ErrorDetail[] = fastifyError.validation.map((issue) => {
      const params = issue.params as Record<string, unknown>;
      const leaf =
        issue.keyword === 'required' ? `/${String(params.missingProperty)}`
        : issue.keyword === 'additionalProperties' ? `/${String(params.additionalProperty)}`
        : '';
      return { path: `${prefix}${issue.instancePath}${leaf}`, code: issue.keyword.toUpperCase(), message: issue.message ?? 'is invalid' };
    });
    return new GatewayError('VALIDATION_FAILED', `The request ${context} is not valid`, details);
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new GatewayError('UNSUPPORTED_MEDIA_TYPE', 'Send application/json or application/xml (SOAP: text/xml)');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new GatewayError('PAYLOAD_TOO_LARGE');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new GatewayError('MALFORMED_BODY', fastifyError.message);
  }
  if (isConnectionError(error)) return unavailable();
  const status = fastifyError.statusCode;
  if (status === 404) return new GatewayError('NOT_FOUND');
  if (status === 405) return new GatewayError('METHOD_NOT_ALLOWED');
  if (status === 413) return new GatewayError('PAYLOAD_TOO_LARGE');
  if (status === 415) return new GatewayError('UNSUPPORTED_MEDIA_TYPE');
  if (status !== undefined && status >= 400 && status < 500) return new GatewayError('MALFORMED_BODY', fastifyError.message);
  return new GatewayError('INTERNAL');
}

export function sendError(request: FastifyRequest, reply: FastifyReply, error: unknown) {
  const gatewayError = toGatewayError(error);
  if (gatewayError.code === 'UNAVAILABLE') {
    // Expected while a dependency is away, and then many times a second: the outage itself is
    // logged once when it starts and once when it ends (src/availability.ts).
    request.log.debug({ code: gatewayError.code }, 'request answered 503');
  } else if (gatewayError.status >= 500) {
    request.log.error({ err: error }, 'request failed');
  } else {
    request.log.info({ code: gatewayError.code, paths: gatewayError.details.map((detail) => detail.path) }, 'request refused');
  }
  return reply.code(gatewayError.status).headers(gatewayError.headers).send(gatewayError.toBody());
}

/** Every 4xx/5xx the gateway sends, including fastify's own, in the contract's error shape. */
export const errorHandlerPlugin = fp(
  async function errorHandler(app: FastifyInstance) {
    app.setErrorHandler((error, request, reply) => sendError(request, reply, error));
    app.setNotFoundHandler((request, reply) => sendError(request, reply, new GatewayError('NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`)));
  },
  { name: 'lienthong-error-handler', fastify: '5.x' },
);
