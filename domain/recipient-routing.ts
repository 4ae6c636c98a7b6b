import type { Campaign } from './campaign.js';
import type { Target } from './campaign-schema.js';

// Who a supporter writes to by default: the campaign's officials for every country, plus the
// embassy in the supporter's own country when the campaign has one. The choice stays editable.

/** The campaign's recipients grouped for the form: officials, the embassy in `country` (if any), and every other embassy. */
export interface RecipientGroups {
  officials: Target[];
  /** The recipients for the supporter's country (usually one embassy); empty when the campaign has none or the country is unknown. */
  yourCountry: Target[];
  others: Target[];
}

/** Groups the campaign's recipients for a supporter writing from `country` (an ISO code, or '' when not chosen yet). */
export function recipientGroups(campaign: Pick<Campaign, 'targets'>, country: string): RecipientGroups {
  const officials = campaign.targets.filter((t) => t.country === 'all');
  const yourCountry = country ? campaign.targets.filter((t) => t.country === country) : [];
  const others = campaign.targets.filter((t) => t.country !== 'all' && t.country !== country);
  return { officials, yourCountry, others };
}

/** The recipients ticked by default for a supporter in `country`: the officials, then their country's embassy. */
export function defaultRecipients(campaign: Pick<Campaign, 'targets'>, country: string): Target[] {
  const { officials, yourCountry } = recipientGroups(campaign, country);
  return [...officials, ...yourCountry];
}
