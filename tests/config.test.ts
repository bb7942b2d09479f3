import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.js';

describe('the BHXH simulator setting', () => {
  it('is on in dev mode (no clients file, no push URL), with a dispatch run every 5 s', () => {
    expect(loadConfig({})).toMatchObject({ bhxhSimulator: true, dispatchIntervalMs: 5_000 });
  });

  it('is off with a clients file or a push URL, and the interval is the contract default', () => {
    expect(loadConfig({ CLIENTS_FILE: 'clients.json' })).toMatchObject({ bhxhSimulator: false, dispatchIntervalMs: 1_800_000 });
    expect(loadConfig({ BHXH_PUSH_URL: 'https://bhxh.example' })).toMatchObject({ bhxhSimulator: false, dispatchIntervalMs: 1_800_000 });
  });

  it('can be turned off in dev mode, for a pull-only trial', () => {
    expect(loadConfig({ BHXH_SIMULATOR: 'off' })).toMatchObject({ bhxhSimulator: false, bhxhPushUrl: undefined });
  });

  it('is refused with a clients file or a push URL, and with a value other than on or off', () => {
    expect(() => loadConfig({ CLIENTS_FILE: 'clients.json', BHXH_SIMULATOR: 'on' })).toThrow(/must be off with a CLIENTS_FILE/);
    expect(() => loadConfig({ BHXH_PUSH_URL: 'https://bhxh.example', BHXH_SIMULATOR: 'on' })).toThrow(/must be off when BHXH_PUSH_URL/);
    expect(() => loadConfig({ BHXH_SIMULATOR: 'yes' })).toThrow(/must be on or off/);
  });

  it('keeps an interval given explicitly', () => {
    expect(loadConfig({ DISPATCH_INTERVAL_MS: '60000' }).dispatchIntervalMs).toBe(60_000);
  });
});

describe('the one-stop dossiers\' retention', () => {
  it('is refused shorter than the days after which dossiers are shown as stale: their files would be gone before anyone could link them', () => {
    expect(() => loadConfig({ STALE_DOSSIER_DAYS: '30', DOSSIER_ATTACHMENT_RETENTION_DAYS: '29' })).toThrow(/DOSSIER_ATTACHMENT_RETENTION_DAYS \(29\) must be at least STALE_DOSSIER_DAYS \(30\)/);
    expect(() => loadConfig({ DOSSIER_ATTACHMENT_RETENTION_DAYS: '20' })).toThrow(/at least STALE_DOSSIER_DAYS/);
    expect(loadConfig({ STALE_DOSSIER_DAYS: '30', DOSSIER_ATTACHMENT_RETENTION_DAYS: '30' })).toMatchObject({ staleDossierDays: 30, dossierAttachmentRetentionDays: 30 });
  });
});
