import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiClient } from '../src/auth/clients.js';
import { Catalogues } from '../src/catalogues/catalogues.js';
import { FacilityCatalogue } from '../src/catalogues/facility-catalogue.js';
import { UnitCatalogue } from '../src/catalogues/unit-catalogue.js';
import type { KhaiSinh } from '../src/domain/documents.js';
import { GatewayError } from '../src/errors.js';
import { IntakeService, type IntakeResult } from '../src/intake/intake-service.js';
import type { Database } from '../src/store/database.js';
import { clean, hoSoMotCua, khaiTuOf } from './support/death-fixtures.js';
import { khaiSinh, personalNumber, TEST_NOW } from './support/fixtures.js';
import { countRows, startTestGateway, type TestGateway } from './support/gateway.js';

/**
 * A rule holds on every path a birth can take into the store: its own door (group commit, or alone
 * when a dossier waits for it), a one-stop dossier completing it, and an officer's PATCH.
 */

let gateway: TestGateway;
let catalogues: Catalogues;
beforeAll(async () => {
  // Province 08's facilities are listed, so a code of 08 not in the list is FACILITY_UNKNOWN.
  const facilities = FacilityCatalogue.fromData({ facilities: [{ code: '08001', name: 'Bệnh viện Đa khoa tỉnh' }] });
  gateway = await startTestGateway({ facilities });
  catalogues = new Catalogues(UnitCatalogue.fromFile(gateway.config.unitsFile), facilities);
});
afterAll(async () => {
  await gateway?.close();
});

const registry08: ApiClient = { id: 'hotich-08', roles: ['registry'], units: ['08'] };
const registry01: ApiClient = { id: 'hotich-01', roles: ['registry'], units: ['01'] };

const postBirth = (doc: unknown) => gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-sinh', payload: doc as object });
const postDeath = (doc: unknown) => gateway.request('registry08', { method: 'POST', url: '/ngsp/v1/khai-tu', payload: doc as object });
const postDossier = (doc: unknown) => gateway.request('registry08b', { method: 'POST', url: '/ngsp/v1/mot-cua', payload: doc as object });

async function transfer(id: string) {
  const { rows } = await gateway.db.query<{ status: string; bhxh_document: Record<string, unknown> | null; document: KhaiSinh }>(
    'SELECT status, bhxh_document, document FROM transfers WHERE id = $1', [id],
  );
  return rows[0];
}

/** A birth that waits `received` for its facility. */
function birthWithoutFacility(): KhaiSinh {
  return clean(khaiSinh({ bhyt: { nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' } }));
}

describe('a facility not in the list is refused on every path', () => {
  it('the birth door and PATCH refuse 08999', async () => {
    const refused = await postBirth(khaiSinh({ bhyt: { noiDangKyKCB: '08999', nguoiGiamHoTheo: 'me', hinhThucNhanThe: 'buu_chinh' } }));
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().error.details).toEqual([expect.objectContaining({ path: '/bhyt/noiDangKyKCB', code: 'FACILITY_UNKNOWN' })]);

    const birth = await postBirth(birthWithoutFacility());
    expect(birth.json().status).toBe('received');
    const patched = await gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birth.json().transferId}`, payload: { bhyt: { noiDangKyKCB: '08999' } },
    });
    expect(patched.statusCode, patched.body).toBe(400);
    expect(patched.json().error.details).toEqual([expect.objectContaining({ path: '/bhyt/noiDangKyKCB', code: 'FACILITY_UNKNOWN' })]);
  });

  it('a dossier supplying 08999 to a received birth is refused, and the birth stays received', async () => {
    const doc = birthWithoutFacility();
    const birth = await postBirth(doc);
    expect(birth.json().status).toBe('received');
    const dossier = await postDossier(hoSoMotCua({
      hoTich: { soDinhDanh: doc.hoTich.soDinhDanh }, bhyt: { noiDangKyKCB: '08999' },
    }));
    expect(dossier.statusCode, dossier.body).toBe(400);
    expect(dossier.json().error.details).toEqual([expect.objectContaining({ path: '/bhyt/noiDangKyKCB', code: 'FACILITY_UNKNOWN' })]);
    const stored = await transfer(birth.json().transferId);
    expect(stored?.status).toBe('received');
    expect(stored?.bhxh_document).toBeNull();
  });

  it('a birth arriving after a waiting dossier is checked as merged: the dossier cannot bring 08999 into it', async () => {
    const doc = birthWithoutFacility();
    // A dossier that waited since a catalogue listing 08999 was in force carries it already.
    const early = new IntakeService({
      db: gateway.db, now: () => TEST_NOW,
      catalogues: new Catalogues(catalogues.units, FacilityCatalogue.fromData({ facilities: [{ code: '08999', name: 'đã đóng' }] })),
    });
    const dossier = await early.accept('HoSoMotCua', hoSoMotCua({
      hoTich: { soDinhDanh: doc.hoTich.soDinhDanh }, bhyt: { noiDangKyKCB: '08999' },
    }), { id: 'motcua-08', roles: ['registry'], units: ['08'] }, 'rest-json');
    expect(dossier.answer.status).toBe('received');

    const refused = await postBirth(doc);
    expect(refused.statusCode, refused.body).toBe(400);
    expect(refused.json().error.details).toEqual([expect.objectContaining({ path: '/bhyt/noiDangKyKCB', code: 'FACILITY_UNKNOWN' })]);
    expect((await transfer(dossier.answer.transferId))?.status).toBe('received');
  });
});

/**
 * The gateway's database, every transaction held at a gate until `open()`: the birth writer's two
 * writers each take one birth and wait, and every birth submitted meanwhile forms the next group.
 */
function gatedDatabase(db: Database, fail?: () => Error) {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  let transactions = 0;
  const gated: Database = {
    ...db,
    async transaction(work, options) {
      transactions += 1;
      await gate;
      if (fail) throw fail();
      return db.transaction(work, options);
    },
  };
  return { db: gated, open, transactions: () => transactions };
}

/** Sends births so that all but two openers are written together, in one group. */
async function inOneGroup(db: Database, births: Array<{ doc: KhaiSinh; client: ApiClient }>) {
  const intake = new IntakeService({ db, catalogues, now: () => TEST_NOW });
  const send = ({ doc, client }: { doc: KhaiSinh; client: ApiClient }) => intake.accept('KhaiSinh', structuredClone(doc), client, 'rest-json')
    .catch((error: unknown) => error);
  const openers = [send({ doc: khaiSinh(), client: registry08 }), send({ doc: khaiSinh(), client: registry08 })];
  const answers = births.map(send);
  await new Promise((resolve) => setImmediate(resolve));
  return async () => (await Promise.all([...openers, ...answers])).slice(2) as Array<IntakeResult | GatewayError | Error>;
}

describe('the group commit', () => {
  it('refuses a birth registered outside the client\'s provinces, as a birth sent alone is', async () => {
    const outside = khaiSinh();
    const { db, open } = gatedDatabase(gateway.db);
    const settled = await inOneGroup(db, [{ doc: outside, client: registry01 }, { doc: khaiSinh(), client: registry08 }]);
    open();
    const [refused, accepted] = await settled();
    expect(refused).toBeInstanceOf(GatewayError);
    expect((refused as GatewayError).code).toBe('FORBIDDEN');
    expect((accepted as IntakeResult).statusCode).toBe(202);
    const { rows } = await gateway.db.query('SELECT 1 FROM transfers WHERE so_dinh_danh = $1', [outside.hoTich.soDinhDanh]);
    expect(rows).toHaveLength(0);
  });

  it('stores a birth in the group when the dossier waiting for its person was registered in another province', async () => {
    const birth = khaiSinh();
    // A dossier of province 01 is not this birth's (the single path matches dossiers in the birth's province only).
    const elsewhere = await gateway.request('registry01', {
      method: 'POST', url: '/ngsp/v1/mot-cua',
      payload: hoSoMotCua({ hoTich: { soDinhDanh: birth.hoTich.soDinhDanh, noiDangKy: { maTinh: '01', maXa: '00004' } }, maDonVi: '00004' }),
    });
    expect(elsewhere.statusCode, elsewhere.body).toBe(202);
    expect(elsewhere.json().status).toBe('received');
    const { db, open, transactions } = gatedDatabase(gateway.db);
    const settled = await inOneGroup(db, [{ doc: birth, client: registry08 }, { doc: khaiSinh(), client: registry08 }]);
    open();
    const results = await settled();
    expect(results.map((result) => (result as IntakeResult).statusCode)).toEqual([202, 202]);
    // The two openers' transactions and the group's one: none for the birth alone.
    expect(transactions()).toBe(3);
    expect((await transfer(elsewhere.json().transferId))?.status).toBe('received');
  });

  it('with the database unreachable answers the whole group 503 at once, without trying each birth alone', async () => {
    const unreachable = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const { db, open, transactions } = gatedDatabase(gateway.db, unreachable);
    const before = await countRows(gateway.db, 'transfers');
    const settled = await inOneGroup(db, [{ doc: khaiSinh(), client: registry08 }, { doc: khaiSinh(), client: registry08 }, { doc: khaiSinh(), client: registry08 }]);
    open();
    const results = await settled();
    for (const result of results) {
      expect(result).toBeInstanceOf(GatewayError);
      expect((result as GatewayError).code).toBe('UNAVAILABLE');
    }
    // The two openers' transactions and the group's one.
    expect(transactions()).toBe(3);
    expect(await countRows(gateway.db, 'transfers')).toBe(before);
  });
});

describe('a correction that changes soDinhDanh', () => {
  /** Resolves once some session waits for an advisory lock, unless stopped first. */
  async function someoneWaitsForALock(stopped: () => boolean): Promise<void> {
    while (!stopped()) {
      const { rows } = await gateway.db.query("SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
      if (rows.length > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('waits for the new person\'s lock, so a death of that person cannot interleave with it', async () => {
    const birth = await postBirth(birthWithoutFacility());
    expect(birth.statusCode, birth.body).toBe(202);
    const newNumber = personalNumber();

    // A death of the new person, held open after its work, before its commit.
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let written!: () => void;
    const deathWritten = new Promise<void>((resolve) => {
      written = resolve;
    });
    const holding: Database = {
      ...gateway.db,
      transaction: (work, options) => gateway.db.transaction(async (tx) => {
        const result = await work(tx);
        written();
        await released;
        return result;
      }, options),
    };
    const deaths = new IntakeService({ db: holding, catalogues, now: () => TEST_NOW });
    const death = deaths.accept('KhaiTu', khaiTuOf(khaiSinh({ hoTich: { soDinhDanh: newNumber } })), registry08, 'rest-json');
    await deathWritten;

    const patch = gateway.request('registry08', {
      method: 'PATCH', url: `/ngsp/v1/khai-sinh/${birth.json().transferId}`, payload: { hoTich: { soDinhDanh: newNumber } },
    });
    let finished = false;
    const first = await Promise.race([
      patch.then(() => {
        finished = true;
        return 'finished';
      }),
      someoneWaitsForALock(() => finished).then(() => 'waiting'),
    ]);
    release();
    expect((await death).statusCode).toBe(202);
    const corrected = await patch;
    expect(first).toBe('waiting');
    expect(corrected.statusCode, corrected.body).toBe(409);
    expect(corrected.json().error.code).toBe('PERSON_DECEASED');
  });
});
