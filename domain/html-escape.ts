// Escaping for HTML built outside the EJS templates (short emails, the SVG chart).

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe to place in HTML content or a quoted attribute. Never throws. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}

/** The HTML part of a short plain-text email in `lang`: the text, escaped, in a <pre> that wraps. */
export function plainTextEmailHtml(title: string, text: string, lang = 'en'): string {
  return `<!DOCTYPE html><html lang="${escapeHtml(lang)}"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><pre style="font-family:Georgia,serif;white-space:pre-wrap">${escapeHtml(text)}</pre></body></html>`;
}
