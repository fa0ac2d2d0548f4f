/**
 * Where the open answer cases live (gateway/deadlines/overdue-watcher.ts): one SQLite file in the
 * data directory (a single host) or PostgreSQL (DATABASE_URL: every replica sees every case, so
 * the overdue API and gauge agree, and a reminder is claimed once across replicas).
 */

export interface OpenCase {
  messageId: string;
  messageType: string;
  senderSystem: string;
  receiverSystem: string;
  /** The receiving system's Land: its calendar counts. */
  land: string;
  contract: string;
  workingDays: number;
  /** Names or catalogue ids of the message types that answer it. */
  answeredBy: string[];
  deliveredAt: string;
  /** YYYY-MM-DD: the last day on which an answer is in time. */
  deadline: string;
}

export interface CaseAnswer {
  referenzUUID: string;
  answerId: string;
  /** Catalogue id of the answer's type. */
  answerType: string;
  answeredAt: string;
}

export interface StoredCase extends OpenCase {
  /** When an answer of one of `answeredBy` was accepted, and its id. */
  answeredAt: string | null;
  answerId: string | null;
  remindedAt: string | null;
}

export interface OverdueCaseStore {
  readonly kind: 'sqlite' | 'postgres';
  /**
   * Opens a case; a repeat (the same delivery seen again) keeps the first and answers false. An
   * answer recorded before the case was opened (a fast receiver, events out of order, another
   * replica) closes it at once.
   */
  open(c: OpenCase): Promise<boolean>;
  /**
   * Records a message that references another one (its referenzUUID); it closes the referenced
   * case if its type is one the case is answered by. True if it closed a case.
   */
  answer(a: CaseAnswer): Promise<boolean>;
  /** Unanswered cases whose deadline day is before `today` (YYYY-MM-DD), oldest deadline first. */
  overdue(today: string): Promise<StoredCase[]>;
  /**
   * Claims the reminder of an unanswered, unreminded case at `at` until `until`: true for exactly one
   * caller across all instances sharing the storage while the claim lasts. A claim that expired
   * (`until` <= `at` of a later call) without markReminded can be taken again: its holder died
   * before the reminder was on the bus, or could not put it there.
   */
  claimReminder(messageId: string, at: string, until: string): Promise<boolean>;
  /** Records that the reminder is on the bus; true if it was not recorded before. */
  markReminded(messageId: string, at: string): Promise<boolean>;
  get(messageId: string): Promise<StoredCase | undefined>;
  close(): Promise<void>;
}

/** True if a message of catalogue id `answerType` is one of `answeredBy` (names or ids). */
export function answers(answerType: string, answeredBy: readonly string[]): boolean {
  const name = answerType.split(':')[2] ?? answerType;
  return answeredBy.includes(answerType) || answeredBy.includes(name);
}
