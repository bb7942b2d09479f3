import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/auth/clients.js';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { todayInVietnam } from '../src/domain/calendar-date.js';
import { canonicalJson, sha256Hex } from '../src/domain/canonical-json.js';
import type { KhaiSinh } from '../src/domain/documents.js';
import { GatewayError } from '../src/errors.js';
import { validateDocument } from '../src/intake/validator.js';
import { birthModule } from '../src/messages/birth/module.js';
import type { Arrival } from '../src/messages/message-module.js';
import { recordInboundMessageInTx } from '../src/store/inbound-messages.js';
import { hoSoMotCua, khaiTuOf } from './support/death-fixtures.js';
import { khaiSinh, TEST_NOW } from './support/fixtures.js';
import { startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * A birth's store checks (a death registered for the person, a birth already held, a one-stop dossier
 * waiting) are one definition that both store paths run: the group commit and a birth stored alone
 * must decide the same cases alike.
 */

let gateway: TestGateway;
let births: ReturnType<typeof birthModule>;
beforeAll(async () => {
  gateway = await startTestGateway();
  births = birthModule({ db: gateway.db, catalogues: Catalogues.fromFiles({ units: gateway.config.unitsFile, facilities: gateway.config.facilitiesFile }) });
});
afterAll(async () => {
  await gateway?.close();
});

const client: ApiClient = { id: 'hotich-08', roles: ['registry'], units: ['08'] };

function arrivalOf(doc: KhaiSinh): Arrival {
  const documentJson = canonicalJson(doc);
  const contentSha256 = sha256Hex(documentJson);
  return {
    client, door: 'rest-json', messageId: doc.messageId, receivedAt: new Date(), documentJson, contentSha256,
    mayRead: (transfer) => transfer.clientId === client.id,
    record: (tx, answer) => recordInboundMessageInTx(tx, {
      clientId: client.id, messageId: doc.messageId, messageType: 'KhaiSinh', contentSha256, transferId: answer.transferId, response: answer,
    }),
  };
}

type Outcome = { stored: string } | { refused: string } | { alone: true } | { repeat: true };

const paths: Record<'group commit' | 'alone', (doc: KhaiSinh) => Promise<Outcome>> = {
  'group commit': async (doc) => {
    const prepared = births.prepare(doc, todayInVietnam(TEST_NOW));
    if (!prepared.storeInGroup) throw new Error('births have a group commit');
    try {
      const outcome = await prepared.storeInGroup(arrivalOf(doc));
      return outcome.kind === 'stored' ? { stored: outcome.answer.status } : outcome.kind === 'alone' ? { alone: true } : { repeat: true };
    } catch (error) {
      if (error instanceof GatewayError) return { refused: error.code };
      throw error;
    }
  },
  alone: async (doc) => {
    const prepared = births.prepare(doc, todayInVietnam(TEST_NOW));
    try {
      const answer = await gateway.db.transaction((tx) => prepared.store(tx, arrivalOf(doc)), { locks: prepared.locks });
      return { stored: answer.status };
    } catch (error) {
      if (error instanceof GatewayError) return { refused: error.code };
      throw error;
    }
  },
};

const birth = () => validateDocument<KhaiSinh>('KhaiSinh', khaiSinh());
const post = (url: string, doc: unknown, as: 'registry08' | 'registry08b' = 'registry08') =>
  gateway.request(as, { method: 'POST', url, payload: doc as object });

describe.each(Object.entries(paths))('a birth through the %s', (name, store) => {
  it('is stored when nothing stands in its way', async () => {
    expect(await store(birth())).toEqual({ stored: 'queued' });
  });

  it('is refused DUPLICATE_PERSON when a birth of the person is held', async () => {
    const first = birth();
    expect((await post('/ngsp/v1/khai-sinh', first)).statusCode).toBe(202);
    const again = validateDocument<KhaiSinh>('KhaiSinh', khaiSinh({ hoTich: { soDinhDanh: first.hoTich.soDinhDanh } }));
    expect(await store(again)).toEqual({ refused: 'DUPLICATE_PERSON' });
  });

  it('is refused PERSON_DECEASED when the person\'s death is registered', async () => {
    const doc = birth();
    expect((await post('/ngsp/v1/khai-tu', khaiTuOf(doc))).statusCode).toBe(202);
    expect(await store(doc)).toEqual({ refused: 'PERSON_DECEASED' });
  });

  it('leaves the group, or absorbs the dossier alone, when a one-stop dossier waits for it', async () => {
    const doc = birth();
    const dossier = await post('/ngsp/v1/mot-cua', hoSoMotCua({ hoTich: { soDinhDanh: doc.hoTich.soDinhDanh } }), 'registry08b');
    expect(dossier.json().status).toBe('received');
    const outcome = await store(doc);
    if (name === 'group commit') expect(outcome).toEqual({ alone: true });
    else {
      expect(outcome).toEqual({ stored: 'queued' });
      const { rows } = await gateway.db.query<{ status: string }>('SELECT status FROM transfers WHERE id = $1', [dossier.json().transferId]);
      expect(rows[0]?.status).toBe('merged');
    }
  });
});
