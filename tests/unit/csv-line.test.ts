import { describe, expect, it } from 'vitest';
import { exportColumns, toCsvLine } from '../../domain/delivery-export.js';

// One CSV record as a campaigner's spreadsheet reads it: RFC 4180 quoting, and no formulas.

describe('a CSV line', () => {
  it('when the cells are plain, then they are joined by commas and the record ends in CRLF', () => {
    expect(toCsvLine(['a1b2', '2026-01-05T10:00:00.000Z', 'gz-psb', '0', ''])).toBe('a1b2,2026-01-05T10:00:00.000Z,gz-psb,0,\r\n');
  });

  it('when a cell holds a comma, a quote or a line break, then it is quoted and its quotes doubled', () => {
    expect(toCsvLine(['Release them, now'])).toBe('"Release them, now"\r\n');
    expect(toCsvLine(['She said "free them"'])).toBe('"She said ""free them"""\r\n');
    expect(toCsvLine(['line one\nline two', 'x'])).toBe('"line one\nline two",x\r\n');
    expect(toCsvLine(['a\r\nb'])).toBe('"a\r\nb"\r\n');
  });

  it('when a cell starts with =, +, -, @, tab or CR, then a leading apostrophe keeps a spreadsheet from running it', () => {
    expect(toCsvLine(['=HYPERLINK("http://evil.example","x")'])).toBe(`"'=HYPERLINK(""http://evil.example"",""x"")"\r\n`);
    expect(toCsvLine(['+1', '-2+3', '@SUM(A1)', '\t=1', '\r=1'])).toBe(`'+1,'-2+3,'@SUM(A1),"'\t'=1","'\r'=1"\r\n`);
    expect(toCsvLine(['=1,2'])).toBe(`"'=1,2"\r\n`);
  });

  it('when a formula follows a semicolon, tab or line break in a cell, then it gets an apostrophe too and the cell is quoted', () => {
    // A spreadsheet that splits on semicolons would start a cell at "=cmd..." whatever the quotes.
    expect(toCsvLine([`Hello;=cmd|' /C calc'!A0`])).toBe(`"Hello;'=cmd|' /C calc'!A0"\r\n`);
    expect(toCsvLine(['a;b', 'x\t+1', 'one\n@two'])).toBe(`"a;b","x\t'+1","one\n'@two"\r\n`);
    // A quote or spaces between the separator and the formula do not hide it.
    expect(toCsvLine(['x;"=HYPERLINK(1)', 'y; -2'])).toBe(`"x;""'=HYPERLINK(1)","y; '-2"\r\n`);
  });

  it('when =, +, -, @ appear later in a cell, then the cell is left as it is', () => {
    expect(toCsvLine(['a=b', 'x+y', 'ana.lima@example.net', 'gz-psb'])).toBe('a=b,x+y,ana.lima@example.net,gz-psb\r\n');
  });

  it('when a cell is Chinese text, then it is written unchanged', () => {
    expect(toCsvLine(['黄雪琴', '王建兵'])).toBe('黄雪琴,王建兵\r\n');
  });

  it('when personal data is not asked for, then the header has no name, email or subject column', () => {
    expect(exportColumns()).toEqual([
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
    ]);
    expect(exportColumns(true).slice(-4)).toEqual(['first_name', 'last_name', 'email', 'subject']);
  });
});
