import { parse } from 'csv-parse/sync';
import { targetSchema, targetsFileSchema, type Target } from './campaign-schema.js';

// Importing recipients from a spreadsheet: a CSV file with one target per row, checked row by row.
// Either every row is valid and the whole list is returned, or nothing is: each bad row is reported
// with its line number so the campaigner can fix the file and import it again.

/** The columns a targets CSV has (header row, any order); timezone and pacing may be left empty. */
export const TARGET_CSV_COLUMNS = ['id', 'name', 'title', 'institution', 'email', 'country', 'language', 'salutation', 'timezone', 'pacing'] as const;
const REQUIRED = TARGET_CSV_COLUMNS.filter((c) => c !== 'timezone' && c !== 'pacing');

/** One problem with the file: the line it is on (1 = the header) and what is wrong. */
export interface ImportProblem {
  line: number;
  message: string;
}

export type ImportResult = { ok: true; targets: Target[] } | { ok: false; problems: ImportProblem[] };

/**
 * Parses a targets CSV. Pacing is written "<per hour>/<per day>" (e.g. "10/50"); either side may be
 * empty (the campaign's default) or "none" (no limit). Never throws: every problem is in the result.
 */
export function parseTargetsCsv(text: string): ImportResult {
  let rows: { record: Record<string, string>; info: { lines: number; raw?: string } }[];
  try {
    rows = parse(text, {
      columns: (header: string[]) => header.map((h) => h.trim().toLowerCase()),
      bom: true,
      trim: true,
      skip_empty_lines: true,
      info: true,
      raw: true,
    });
  } catch (err) {
    const e = err as { lines?: number; message: string };
    return { ok: false, problems: [{ line: e.lines ?? 1, message: `not a readable CSV file (${e.message})` }] };
  }
  const header = firstLineColumns(text);
  const missing = REQUIRED.filter((c) => !header.includes(c));
  const unknown = header.filter((c) => c && !(TARGET_CSV_COLUMNS as readonly string[]).includes(c));
  if (missing.length || unknown.length) {
    const parts = [missing.length ? `missing column(s): ${missing.join(', ')}` : '', unknown.length ? `unknown column(s): ${unknown.join(', ')}` : ''];
    return { ok: false, problems: [{ line: 1, message: `${parts.filter(Boolean).join('; ')} (expected: ${TARGET_CSV_COLUMNS.join(', ')})` }] };
  }
  if (rows.length === 0) return { ok: false, problems: [{ line: 1, message: 'the file has a header but no targets' }] };

  const problems: ImportProblem[] = [];
  const targets: Target[] = [];
  const firstLineOfId = new Map<string, number>();
  for (const { record, info } of rows) {
    const line = info.lines - ((info.raw ?? '').trimEnd().match(/\n/g)?.length ?? 0);
    const pacing = parsePacing(record.pacing ?? '');
    if (typeof pacing === 'string') {
      problems.push({ line, message: `pacing: ${pacing}` });
      continue;
    }
    const candidate = {
      id: record.id,
      name: record.name,
      title: record.title,
      institution: record.institution,
      email: record.email,
      country: record.country === 'all' ? 'all' : (record.country ?? '').toUpperCase(),
      language: record.language,
      salutation: record.salutation,
      ...(record.timezone ? { timezone: record.timezone } : {}),
      ...(pacing ? { pacing } : {}),
    };
    const result = targetSchema.safeParse(candidate);
    if (!result.success) {
      problems.push({ line, message: result.error.issues.map((i) => `${i.path.join('.') || 'row'}: ${i.message}`).join('; ') });
      continue;
    }
    const seen = firstLineOfId.get(result.data.id);
    if (seen !== undefined) {
      problems.push({ line, message: `id: "${result.data.id}" is already used on line ${seen}` });
      continue;
    }
    firstLineOfId.set(result.data.id, line);
    targets.push(result.data);
  }
  return problems.length ? { ok: false, problems } : { ok: true, targets };
}

/**
 * The campaign's new target list: imported rows replace the targets with the same id (keeping the
 * fields a CSV cannot carry, such as salutations in other languages, a digest and its schedule) and new
 * ids are added; with `replace`, the list is exactly the file's. Throws if the result is not a valid targets file.
 */
export function mergeTargets(existing: readonly Target[], imported: readonly Target[], replace = false): { targets: Target[]; added: number; updated: number } {
  if (replace) return { targets: targetsFileSchema.parse(imported), added: imported.length, updated: 0 };
  const byId = new Map(imported.map((t) => [t.id, t]));
  let updated = 0;
  const merged = existing.map((old) => {
    const row = byId.get(old.id);
    if (!row) return old;
    byId.delete(old.id);
    updated++;
    // The CSV has no delivery column: the parsed row's "individual" is the schema's default, not the file's word.
    const { pacing, timezone, delivery: _d, ...rest } = row;
    // Empty timezone or pacing cells mean "the campaign's default": they clear an older override.
    const { pacing: _p, timezone: _t, ...kept } = old;
    return { ...kept, ...rest, ...(timezone ? { timezone } : {}), ...(pacing ? { pacing } : {}) };
  });
  const added = [...byId.values()];
  return { targets: targetsFileSchema.parse([...merged, ...added]), added: added.length, updated };
}

function parsePacing(cell: string): { perHour?: number | null; perDay?: number | null } | undefined | string {
  if (!cell) return undefined;
  const m = /^\s*([0-9]*|none)\s*\/\s*([0-9]*|none)\s*$/i.exec(cell);
  if (!m) return `write it as <per hour>/<per day>, e.g. "10/50", "10/" or "none/200" (got "${cell.slice(0, 30)}")`;
  const side = (v: string) => (v === '' ? undefined : v.toLowerCase() === 'none' ? null : Number(v));
  const perHour = side(m[1]!);
  const perDay = side(m[2]!);
  for (const n of [perHour, perDay]) if (typeof n === 'number' && (n < 1 || n > 100_000)) return `limits must be between 1 and 100000 (got "${cell}")`;
  return { ...(perHour !== undefined ? { perHour } : {}), ...(perDay !== undefined ? { perDay } : {}) };
}

function firstLineColumns(text: string): string[] {
  const first = text.replace(/^\uFEFF/, '').split(/\r?\n/, 1)[0] ?? '';
  try {
    const [cols] = parse(first, { trim: true }) as string[][];
    return (cols ?? []).map((c) => c.toLowerCase());
  } catch {
    return [];
  }
}
