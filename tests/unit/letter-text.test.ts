import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { APP_ROOT } from '../../domain/app-root.js';
import { loadCampaigns } from '../../domain/campaign.js';
import { packedDictionaryId, packLetterText, textDictionary, unpackLetterText } from '../../domain/letter-text.js';

// Letter texts are kept compressed, with the campaign's prefilled letter as the preset dictionary.

const campaign = loadCampaigns(path.join(APP_ROOT, 'templates', 'campaigns')).list()[0]!;
const own = `I have followed this case since 2021. ${'My students asked me why a journalist is in prison. '.repeat(3)}Please let them go home.`;

describe('a letter text kept compressed', () => {
  it('when a supporter keeps the prefilled letter and adds their own paragraph, then it comes back exactly and the kept part costs almost nothing', () => {
    const dictionary = textDictionary(campaign, 'en');
    const body = `${campaign.letterBody}\n\n${own}`;
    const packed = packLetterText(body, dictionary);
    expect(unpackLetterText(packed, dictionary)).toBe(body);
    expect(packedDictionaryId(packed)).toBe(dictionary.id);
    expect(packed.length).toBeLessThan(Buffer.byteLength(own) + 60);
  });

  it('when a letter is written in another language of the campaign, then that language’s prefilled letter is its dictionary', () => {
    const fr = textDictionary(campaign, 'fr');
    expect(fr.id).not.toBe(textDictionary(campaign, 'en').id);
    expect(fr.bytes.toString('utf8')).toBe(campaign.texts.get('fr')!.letter.body);
    const body = `${campaign.texts.get('fr')!.letter.body}\n\nMerci. 谢谢。`;
    expect(unpackLetterText(packLetterText(body, fr), fr)).toBe(body);
  });

  it('when the text is read with another dictionary, then it fails instead of giving a wrong text', () => {
    const packed = packLetterText(`${campaign.letterBody}\n\n${own}`, textDictionary(campaign, 'en'));
    expect(() => unpackLetterText(packed, textDictionary(campaign, 'fr'))).toThrow(/packed with dictionary/);
  });
});
