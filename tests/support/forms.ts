// Form bodies as a browser posts them.

/** A valid form body for the shipped campaign, with overrides. */
export function validForm(overrides: Record<string, string | string[]> = {}): Record<string, string | string[]> {
  return {
    firstName: 'Ana',
    lastName: 'Lima',
    email: 'ana.lima@example.net',
    country: 'FR',
    recipients: ['gz-psb', 'gz-procuratorate', 'embassy-fr'],
    subject: 'Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵)',
    body: 'I am writing about Sophia Huang Xueqin (黄雪琴) and Wang Jianbing (王建兵). Please release them.',
    ...overrides,
  };
}

/** Encodes a form body as a browser does (repeated keys for lists). */
export function formEncode(body: Record<string, string | string[]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(body)) for (const one of Array.isArray(v) ? v : [v]) p.append(k, one);
  return p.toString();
}
