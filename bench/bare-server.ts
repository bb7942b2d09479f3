/**
 * The limit the gateway is measured against: fastify parsing the same JSON body and checking it
 * against the same compiled schema, answering 202, storing nothing.
 */
import Fastify from 'fastify';
import { validateDocument } from '../src/intake/validator.js';

const app = Fastify({ logger: false });
app.post('/ngsp/v1/khai-sinh', async (request, reply) => {
  const doc = validateDocument<{ messageId: string }>('KhaiSinh', request.body);
  return reply.code(202).send({ transferId: 'none', messageId: doc.messageId, status: 'queued' });
});
await app.listen({ port: Number(process.env.PORT ?? 0), host: '127.0.0.1' });
const address = app.server.address();
process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : ''}\n`);
