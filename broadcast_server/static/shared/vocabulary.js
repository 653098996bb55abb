// The words the pages share with the server: the StrEnums of announcements/protocol.py (and the
// announcement status of announcements/models.py), member for member and in the same order.
// tests/web/test_vocabulary.py fails when the two drift apart. A newer server may still send a value
// that is not here: show it as it comes, and sort an unknown priority with `normal` (docs/protocol.md §7.1).

/** Most urgent first: the order screens show and play in. */
export const Priority = Object.freeze({
  EMERGENCY: 'emergency',
  HIGH: 'high',
  NORMAL: 'normal',
  LOW: 'low',
});

export const Language = Object.freeze({
  ZH: 'zh',
  EN: 'en',
});

export const ScreenKind = Object.freeze({
  SCREEN: 'screen',
  SPEAKER: 'speaker',
});

export const ReceiptState = Object.freeze({
  RECEIVED: 'received',
  DISPLAYED: 'displayed',
  PLAYED: 'played',
});

/** What an announcement's audio is: speech from its text, a cadre's recording, or the record of a live call. */
export const AudioSource = Object.freeze({
  SPEECH: 'speech',
  RECORDING: 'recording',
  LIVE: 'live',
});

/** A live call (实时喊话) as devices are told of it. */
export const LiveState = Object.freeze({
  STARTED: 'started',
  ENDED: 'ended',
});

export const RequestCategory = Object.freeze({
  SUGGESTION: 'suggestion',
  COMPLAINT: 'complaint',
  HELP: 'help',
  DISPUTE: 'dispute',
  QUESTION: 'question',
  OTHER: 'other',
});

export const RequestStatus = Object.freeze({
  RECEIVED: 'received',
  ASSIGNED: 'assigned',
  IN_PROGRESS: 'in_progress',
  RESOLVED: 'resolved',
  CLOSED: 'closed',
  REJECTED: 'rejected',
});

export const Rating = Object.freeze({
  SATISFIED: 'satisfied',
  BASICALLY_SATISFIED: 'basically_satisfied',
  DISSATISFIED: 'dissatisfied',
});

export const AnnouncementStatus = Object.freeze({
  SCHEDULED: 'scheduled',
  LIVE: 'live',
  EXPIRED: 'expired',
  CANCELLED: 'cancelled',
});

const PRIORITY_RANK = new Map(Object.values(Priority).map((priority, rank) => [priority, rank]));

/** Where a priority sorts, smaller first (emergency is 0); one this page does not know sorts with `normal`. */
export function priorityRank(priority) {
  return PRIORITY_RANK.get(priority) ?? PRIORITY_RANK.get(Priority.NORMAL);
}
