import { createHash } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { textsFor, type Campaign } from './campaign.js';

// A letter's text, compressed for keeping in Redis: raw deflate with the campaign's prefilled letter
// (in the letter's language) as the preset dictionary, so the part a supporter kept from the
// prefilled letter costs a few bytes and only their own words take room. A dictionary is named by a
// hash of its content and kept in Redis once, so an edited letter.txt still opens the older letters.

/** A preset dictionary: the prefilled letter's UTF-8 bytes and the id (content hash) letters name it by. */
export interface TextDictionary {
  id: string;
  bytes: Buffer;
}

const byTexts = new WeakMap<object, TextDictionary>();

/** The dictionary for letters to `campaign` written in `lang` (its prefilled letter in that language, or its own). */
export function textDictionary(campaign: Campaign, lang: string | undefined): TextDictionary {
  const texts = textsFor(campaign, lang ?? campaign.language);
  let dictionary = byTexts.get(texts);
  if (!dictionary) {
    const bytes = Buffer.from(texts.letter.body, 'utf8');
    dictionary = { id: dictionaryId(bytes), bytes };
    byTexts.set(texts, dictionary);
  }
  return dictionary;
}

/** A dictionary's id: the first 16 hex digits of its SHA-256. */
export function dictionaryId(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex').slice(0, 16);
}

/** The letter text compressed with `dictionary`, after the dictionary's id (8 bytes) that reading it needs. */
export function packLetterText(body: string, dictionary: TextDictionary): Buffer {
  return Buffer.concat([Buffer.from(dictionary.id, 'hex'), deflateRawSync(Buffer.from(body, 'utf8'), { dictionary: dictionary.bytes, level: 9 })]);
}

/** The id of the dictionary packed text was compressed with. */
export function packedDictionaryId(packed: Buffer): string {
  return packed.subarray(0, 8).toString('hex');
}

/**
 * The letter text back from packLetterText's output. Throws when the text was packed with another
 * dictionary (raw deflate would not notice) or the bytes are not such output.
 */
export function unpackLetterText(packed: Buffer, dictionary: TextDictionary): string {
  if (packedDictionaryId(packed) !== dictionary.id) throw new Error(`the text was packed with dictionary ${packedDictionaryId(packed)}, not ${dictionary.id}`);
  return inflateRawSync(packed.subarray(8), { dictionary: dictionary.bytes }).toString('utf8');
}
