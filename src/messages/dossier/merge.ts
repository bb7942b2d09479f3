import type { BhytPart, KhaiSinh, KhaiSinhHoTich, KhaiTuHoTich } from '../../domain/documents.js';
import { GatewayError } from '../../errors.js';
import { CAP_THE_TE_MAX_ATTACHMENTS } from '../../intake/bhxh-documents.js';

export interface HoSoMotCua {
  messageId: string;
  maHoSo: string;
  maTTHC: string;
  module: 'KS' | 'KT';
  maDonVi: string;
  ngayTiepNhan: string;
  data: string;
  fileDinhKem?: Array<{ loaiGiayTo: string; tenGiayTo: string; tenTepDinhKem: string; duLieuTepDinhKem: string }>;
  bhyt?: BhytPart;
}

/** A dossier after intake: its embedded record parsed and checked, its files decoded. */
export interface ReadDossier {
  maHoSo: string;
  module: 'KS' | 'KT';
  hoTich: Partial<KhaiSinhHoTich> | Partial<KhaiTuHoTich>;
  bhyt?: BhytPart;
  /** The person the dossier is about, when its record names one. */
  soDinhDanh?: string;
  maTinh: string;
}

/**
 * What a one-stop dossier may add to a birth: the declarant's address and contact above all (the
 * civil-status software often lacks them: docs/DOMAIN.md, "One-stop dossiers"), and a known
 * parent's address or number. It never overwrites what the civil-status record says; it only fills
 * what is absent.
 */
const SUPPLIED_FROM_DOSSIER: Array<keyof KhaiSinhHoTich> = [
  'nycNoiCuTru', 'nycSoDienThoai', 'nycEmail', 'nycSoGiayToTuyThan',
];
const SUPPLIED_FOR_KNOWN_PARENT = { me: ['meNoiCuTru', 'meSoDDCN'], cha: ['chaNoiCuTru', 'chaSoDDCN'] } as const;

export function supplyBirthFromDossier(birth: KhaiSinh, dossier: ReadDossier): { merged: KhaiSinh; supplied: string[] } {
  const from = dossier.hoTich as Partial<KhaiSinhHoTich>;
  const hoTich: KhaiSinhHoTich = { ...birth.hoTich };
  const supplied: string[] = [];
  const fields: Array<keyof KhaiSinhHoTich> = [...SUPPLIED_FROM_DOSSIER];
  if (birth.hoTich.meHoTen !== undefined) fields.push(...SUPPLIED_FOR_KNOWN_PARENT.me);
  if (birth.hoTich.chaHoTen !== undefined) fields.push(...SUPPLIED_FOR_KNOWN_PARENT.cha);
  for (const field of fields) {
    if (fillAbsent(hoTich, from, field)) supplied.push(`/hoTich/${field}`);
  }
  let bhyt = birth.bhyt;
  for (const [field, value] of Object.entries(dossier.bhyt ?? {}) as Array<[keyof BhytPart, string]>) {
    if (bhyt?.[field] === undefined) {
      bhyt = { ...bhyt, [field]: value };
      supplied.push(`/bhyt/${field}`);
    }
  }
  return {
    merged: {
      ...birth,
      ...(bhyt ? { bhyt } : {}),
      maHoSoMCDT: birth.maHoSoMCDT ?? dossier.maHoSo,
      hoTich,
    },
    supplied,
  };
}

function fillAbsent<K extends keyof KhaiSinhHoTich>(target: KhaiSinhHoTich, from: Partial<KhaiSinhHoTich>, field: K): boolean {
  const value = from[field];
  if (target[field] !== undefined || value === undefined) return false;
  target[field] = value;
  return true;
}

/**
 * A birth's BHXH document cites every file its dossiers brought (docs/DOMAIN.md, "One-stop
 * dossiers"), and BHXH takes at most {@link CAP_THE_TE_MAX_ATTACHMENTS}: beyond that the birth
 * could never leave. So the files that would take it past are refused, with what brought them.
 */
export function checkAttachmentsPerBirth(together: number, path: string, describe: () => string): void {
  if (together <= CAP_THE_TE_MAX_ATTACHMENTS) return;
  throw new GatewayError('VALIDATION_FAILED', `BHXH takes at most ${CAP_THE_TE_MAX_ATTACHMENTS} attachments per birth`, [
    { path, code: 'MAXITEMS', message: `${describe()}; BHXH takes at most ${CAP_THE_TE_MAX_ATTACHMENTS} attachments per birth` },
  ]);
}
