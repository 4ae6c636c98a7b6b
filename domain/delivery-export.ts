import type { Redis } from 'ioredis';
import type { Campaign } from './campaign.js';
import { parseDelivery } from './delivery-log.js';
import type { DeliveryState } from './delivery-states.js';
import { letterFieldsOf } from './letter-store.js';
import type { RedisKeys } from './redis-keys.js';

// The delivery log as CSV rows, one per letter and recipient, read from Redis in batches so memory
// stays flat however many letters a campaign has: the campaign's letter index is walked by time,
// each batch of letters is loaded in one pipeline (each letter without its text, which no row shows),
// and nothing is kept once its rows are yielded.

// One letter's hash without its text (z: compressed, bo: the older plain form), as a flat list.
const LETTER_WITHOUT_TEXT_LUA = `
local flat = redis.call('HGETALL', KEYS[1])
local kept = {}
for i = 1, #flat, 2 do
  if flat[i] ~= 'z' and flat[i] ~= 'bo' then
    kept[#kept + 1] = flat[i]
    kept[#kept + 1] = flat[i + 1]
  end
end
return kept
`;
const LETTER_WITHOUT_TEXT = 'appealLettersWithoutText';

/** Which deliveries to export. */
export interface ExportFilter {
  /** Letters written at or after this time (ms); from the first letter when absent. */
  from?: number;
  /** Letters written before this time (ms); up to the last letter when absent. */
  to?: number;
  /** Only deliveries to this recipient. */
  targetId?: string;
  /** Only deliveries currently in this state. */
  state?: DeliveryState;
  /** Adds the supporter's first name, last name, email and the subject (empty once deleted after delivery) to each row. */
  personal?: boolean;
}

/** One delivery (one letter to one recipient) as exported. */
export interface DeliveryExportRow {
  letterId: string;
  writtenAt: number;
  targetId: string;
  /** The recipient's institution; empty for a recipient no longer in the campaign. */
  institution: string;
  state: DeliveryState;
  attempts: number;
  messageId: string;
  changedAt: number;
  error: string;
  /** The supporter's country (ISO code). */
  country: string;
  /** Present only when personal data was asked for. */
  personal?: { firstName: string; lastName: string; email: string; subject: string };
}

/** The letters loaded per round trip (one ZRANGEBYSCORE and one pipeline of HGETALLs). */
export const EXPORT_BATCH_SIZE = 500;

const COLUMNS = [
  'letter_id',
  'written_at',
  'recipient_id',
  'recipient_institution',
  'state',
  'attempts',
  'provider_message_id',
  'last_changed_at',
  'last_error',
  'supporter_country',
] as const;
const PERSONAL_COLUMNS = ['first_name', 'last_name', 'email', 'subject'] as const;

/** The CSV header's column names, with the personal ones only when asked for. */
export function exportColumns(personal = false): string[] {
  return personal ? [...COLUMNS, ...PERSONAL_COLUMNS] : [...COLUMNS];
}

/** A row's cells in the order of exportColumns(personal). */
export function exportValues(row: DeliveryExportRow, personal = false): string[] {
  const values = [
    row.letterId,
    new Date(row.writtenAt).toISOString(),
    row.targetId,
    row.institution,
    row.state,
    String(row.attempts),
    row.messageId,
    new Date(row.changedAt).toISOString(),
    row.error,
    row.country,
  ];
  if (personal) values.push(row.personal?.firstName ?? '', row.personal?.lastName ?? '', row.personal?.email ?? '', row.personal?.subject ?? '');
  return values;
}

/** Cells a spreadsheet would read as a formula (or as a cell starting with a control character). */
const FORMULA_START = /^[=+\-@\t\r]/;
/**
 * A formula start after a semicolon, tab or line break (and any quotes or spaces after it): a spreadsheet
 * that splits on semicolons (the separator in many locales) ignores quotes that do not open its own field
 * and would start a cell there.
 */
const FORMULA_AFTER_SEPARATOR = /([;\t\r\n]["\s]*)(?=[=+\-@])/g;
const NEEDS_QUOTES = /[",;\t\r\n]/;

/**
 * One CSV record ending in CRLF (RFC 4180): a cell with a comma, semicolon, tab, quote or line break
 * is quoted and its quotes doubled. A cell starting with =, +, -, @, tab or CR gets a leading ', and so
 * does such a character after a semicolon, tab or line break inside a cell, so spreadsheets show it as
 * text instead of running it as a formula. Never throws.
 */
export function toCsvLine(values: readonly string[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    let cell = values[i] ?? '';
    if (FORMULA_START.test(cell)) cell = `'${cell}`;
    cell = cell.replace(FORMULA_AFTER_SEPARATOR, "$1'");
    if (NEEDS_QUOTES.test(cell)) cell = `"${cell.replace(/"/g, '""')}"`;
    line += i === 0 ? cell : `,${cell}`;
  }
  return `${line}\r\n`;
}

/**
 * The campaign's deliveries matching `filter`, in batches, oldest letter first and each letter's
 * recipients in the order the supporter chose them. Letters deleted meanwhile are skipped.
 * Rejects when Redis does (rows already yielded stay yielded).
 */
export async function* exportDeliveryBatches(
  redis: Redis,
  keys: RedisKeys,
  campaign: Campaign,
  filter: ExportFilter = {},
  batchSize = EXPORT_BATCH_SIZE,
): AsyncGenerator<DeliveryExportRow[]> {
  if (!(LETTER_WITHOUT_TEXT in redis)) redis.defineCommand(LETTER_WITHOUT_TEXT, { numberOfKeys: 1, lua: LETTER_WITHOUT_TEXT_LUA });
  const index = keys.letterIndex(campaign.slug);
  const max = filter.to !== undefined ? `(${filter.to}` : '+inf';
  // Keyset paging: start at the last score seen, skipping the letters already read at that score
  // (members with equal scores come in a fixed order), so each batch costs the same however deep.
  let min = filter.from !== undefined ? String(filter.from) : '-inf';
  let skip = 0;
  for (;;) {
    const flat = await redis.zrangebyscore(index, min, max, 'WITHSCORES', 'LIMIT', skip, batchSize);
    if (flat.length === 0) return;
    const ids: string[] = [];
    for (let i = 0; i < flat.length; i += 2) ids.push(flat[i]!);
    const lastScore = flat[flat.length - 1]!;
    let atLast = 0;
    for (let i = flat.length - 1; i >= 1 && flat[i] === lastScore; i -= 2) atLast++;
    if (min !== '-inf' && Number(min) === Number(lastScore)) skip += ids.length;
    else {
      min = lastScore;
      skip = atLast;
    }

    const pipeline = redis.pipeline() as unknown as Record<string, (key: string) => unknown> & { exec(): Promise<[Error | null, unknown][] | null> };
    for (const id of ids) pipeline[LETTER_WITHOUT_TEXT]!(keys.letter(id));
    const results = (await pipeline.exec()) ?? [];
    const rows: DeliveryExportRow[] = [];
    for (let i = 0; i < ids.length; i++) {
      const [err, flatHash] = results[i] ?? [new Error('missing pipeline reply'), null];
      if (err) throw err;
      const hash: Record<string, string> = {};
      const list = flatHash as string[];
      for (let j = 0; j < list.length; j += 2) hash[list[j]!] = list[j + 1]!;
      rowsOfLetter(ids[i]!, hash, campaign, filter, rows);
    }
    yield rows;
    if (ids.length < batchSize) return;
  }
}

/** The campaign's deliveries matching `filter`, one at a time (see exportDeliveryBatches). */
export async function* exportDeliveries(redis: Redis, keys: RedisKeys, campaign: Campaign, filter: ExportFilter = {}): AsyncGenerator<DeliveryExportRow> {
  for await (const batch of exportDeliveryBatches(redis, keys, campaign, filter)) yield* batch;
}

/**
 * The export as CSV text in chunks of one batch each (empty when no letter of the batch matched, so
 * a consumer can stop between batches); the first chunk (the header and the first batch's rows) comes
 * only after the first read from Redis succeeded, so a caller can still answer with an error when
 * Redis is down. Rejects when Redis does.
 */
export async function* deliveryCsv(
  redis: Redis,
  keys: RedisKeys,
  campaign: Campaign,
  filter: ExportFilter = {},
  batchSize = EXPORT_BATCH_SIZE,
): AsyncGenerator<string> {
  const personal = filter.personal === true;
  let chunk = toCsvLine(exportColumns(personal));
  for await (const batch of exportDeliveryBatches(redis, keys, campaign, filter, batchSize)) {
    for (const row of batch) chunk += toCsvLine(exportValues(row, personal));
    yield chunk;
    chunk = '';
  }
  if (chunk) yield chunk;
}

function rowsOfLetter(letterId: string, h: Record<string, string>, campaign: Campaign, filter: ExportFilter, out: DeliveryExportRow[]): void {
  const letter = letterFieldsOf(h);
  if (!letter) return;
  const personal = filter.personal ? { firstName: letter.firstName, lastName: letter.lastName, email: letter.email, subject: letter.subject } : undefined;
  for (const targetId of letter.recipients) {
    if (!targetId || (filter.targetId !== undefined && targetId !== filter.targetId)) continue;
    const raw = h[`d:${targetId}`];
    const record = raw ? parseDelivery(raw) : undefined;
    if (!record || (filter.state !== undefined && record.state !== filter.state)) continue;
    out.push({
      letterId,
      writtenAt: letter.createdAt,
      targetId,
      institution: campaign.targetById.get(targetId)?.institution ?? '',
      state: record.state,
      attempts: record.attempts,
      messageId: record.messageId ?? '',
      changedAt: record.changedAt,
      error: record.error ?? '',
      country: letter.country,
      ...(personal ? { personal } : {}),
    });
  }
}
