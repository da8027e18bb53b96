import {
  firstPlural,
  lightWords,
  modals,
  opposites,
  secondPerson,
  subjectPronouns,
  verbMarkers,
} from './match-words.ts';
import { framesConflict } from './question-frame.ts';
import { featuresOf, type Intent, sameWord, stem, type TextFeatures } from './text-features.ts';

/** The rule that rejected a candidate, a stable code for logs and metrics. */
export type MatchRule =
  | 'empty'
  | 'numbers'
  | 'units'
  | 'negation'
  | 'names'
  | 'intent'
  | 'frame'
  | 'opposites'
  | 'quotes'
  | 'order'
  | 'person'
  | 'coverage';

export interface MatchVerdict {
  readonly accept: boolean;
  readonly reason: 'accepted' | MatchRule;
  /** On an accept: how many topic words of the query were swapped for others (0 when all match). */
  readonly swappedWords?: number;
  /**
   * On an accept with swapped words: whether every swapped word, on both sides, stands where English puts a
   * verb (`how do I raise…` / `how can I increase…`). A verb swapped for another in the same frame is usually
   * a synonym the embedding already judged; a noun swapped for a noun is more often another thing of the same
   * kind (`doctor` / `soldier`), so `decide` asks more of it.
   */
  readonly swappedVerbs?: boolean;
  /** What differed, for a log line (e.g. `numbers 2015 vs 2014`). */
  readonly detail?: string;
}

export interface ConfirmOptions {
  /**
   * Topic words that may be swapped for others (a synonym, `shower` / `bathe`): each text may have this many
   * topic words missing from the other, as long as both have some. A word present on one side only, with
   * nothing in its place on the other, is a qualifier added (`…from my iPhone via my computer`) and rejects.
   */
  readonly maxSwappedWords: number;
}

/** Question intents that ask for different kinds of answer; `open` and `yes-no` conflict with none. */
const specificIntents = new Set<Intent>(['manner', 'reason', 'time', 'place', 'person', 'quantity']);

const accepted: MatchVerdict = { accept: true, reason: 'accepted' };
const reject = (reason: MatchRule, detail: string): MatchVerdict => ({ accept: false, reason, detail });

function sameSet(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  return a.size === b.size && [...a].every((item) => b.has(item));
}

/** Stems of `from` that match no word of `to`. */
function unmatched(from: readonly string[], to: TextFeatures): string[] {
  return from.filter((word) => !to.stems.some((other) => sameWord(word, other)));
}

const lightStems = new Set([...lightWords].map(stem));

/** A missing topic word that changes little: a light verb or adverb (see `lightWords`) or an -ly adverb. */
const light = (word: string) => lightStems.has(word) || (word.length > 4 && word.endsWith('ly'));

/** Names of `from` that `to` has neither as a word nor spelled out (`seo` / `search engine optimization`). */
function missingNames(from: TextFeatures, to: TextFeatures): string[] {
  return unmatched(from.names, to).filter((name) => !to.initials.has(name));
}

/**
 * The same topic words in another order with (nearly) the same other words: roles swapped (`do men expect too
 * much from women` / `do women expect too much from men`), not a rephrasing, which changes the grammar words.
 */
function rolesSwapped(a: TextFeatures, b: TextFeatures): boolean {
  if (a.content.length !== b.content.length || a.content.join(' ') === b.content.join(' ')) return false;
  const sorted = (words: readonly string[]) => [...words].sort().join(' ');
  if (sorted(a.content) !== sorted(b.content)) return false;
  const left = [...a.stems];
  let different = 0;
  for (const word of b.stems) {
    const at = left.indexOf(word);
    if (at >= 0) left.splice(at, 1);
    else different++;
  }
  const symmetric = (words: readonly string[]) =>
    words.some((word) => /^(?:and|or|vs|versus|between)$/.test(word));
  return different + left.length <= 1 && !symmetric(a.words);
}

/**
 * Whether the topic word `stemmed` stands where English puts a verb: right after a subject pronoun, `to`, `be` or
 * `not`, or after a modal or `do` that follows its subject (`how do I raise…`, `the best way to curb…`, `how can
 * it be fixed`, `people can learn…`). A modal that opens a question is followed by its subject, not a verb
 * (`what jobs do history majors get`).
 */
function inVerbFrame(features: TextFeatures, stemmed: string): boolean {
  const at = features.stems.indexOf(stemmed);
  const before = features.words[at - 1];
  if (before === undefined) return false;
  if (subjectPronouns.has(before) || verbMarkers.has(before)) return true;
  return modals.has(before) && subjectPronouns.has(features.words[at - 2] ?? '');
}

/**
 * The reader against a group (`why do you love cats` / `why do we love cats`): one text speaks to the reader and
 * not of `we`, the other of `we` and not to the reader. `I` / `you` / `one` in how-to questions are left alone:
 * there they all mean anyone (`how do I…` = `how do you…`).
 */
function personChanged(a: TextFeatures, b: TextFeatures): boolean {
  const has = (features: TextFeatures, set: ReadonlySet<string>) =>
    features.words.some((word) => set.has(word));
  const you = (features: TextFeatures) => has(features, secondPerson) && !has(features, firstPlural);
  const we = (features: TextFeatures) => has(features, firstPlural) && !has(features, secondPerson);
  return (you(a) && we(b)) || (we(a) && you(b));
}

/** A lower-case word and its singular, for the opposites list. */
function wordSet(features: TextFeatures): Set<string> {
  const set = new Set(features.words);
  for (const word of features.words) if (word.length >= 5 && word.endsWith('s')) set.add(word.slice(0, -1));
  return set;
}

function opposed(a: TextFeatures, b: TextFeatures): string | undefined {
  const left = wordSet(a);
  const right = wordSet(b);
  for (const [x, y] of opposites) {
    for (const [one, other] of [
      [x, y],
      [y, x],
    ] as const) {
      if (left.has(one) && right.has(other) && !left.has(other) && !right.has(one))
        return `${one} vs ${other}`;
    }
  }
  return undefined;
}

/**
 * Everything the second stage reads from a pair before it decides: the first rule that rejects it outright
 * (numbers, units, negation, names, intent, frame, opposites, quotes, order, person), and the topic words of each
 * side that the other lacks (light words already forgiven), with whether all of them stand in a verb's place.
 * `confirmMatch` turns it into a verdict; the learned stage (`learned-stage.ts`) reads more of it.
 */
export interface MatchAnalysis {
  readonly query: TextFeatures;
  readonly candidate: TextFeatures;
  /** The first outright rejection, if any. */
  readonly rejection: MatchVerdict | undefined;
  /** Topic-word stems of the query that the candidate lacks (light words left out). */
  readonly onlyQuery: readonly string[];
  /** Topic-word stems of the candidate that the query lacks (light words left out). */
  readonly onlyCandidate: readonly string[];
  /** Whether every word of `onlyQuery` and `onlyCandidate` stands in a verb's place. */
  readonly verbs: boolean;
}

/** Reads a pair for the second stage (see `MatchAnalysis`); pure and deterministic. */
export function analyzeMatch(queryText: string, candidateText: string): MatchAnalysis {
  const query = featuresOf(queryText);
  const candidate = featuresOf(candidateText);
  return { query, candidate, rejection: outright(query, candidate), ...topicWordsApart(query, candidate) };
}

/** The topic words each side lacks (light words forgiven), and whether all of them stand in a verb's place. */
function topicWordsApart(query: TextFeatures, candidate: TextFeatures) {
  const onlyQuery = unmatched(query.content, candidate).filter((word) => !light(word));
  const onlyCandidate = unmatched(candidate.content, query).filter((word) => !light(word));
  const verbs =
    onlyQuery.every((word) => inVerbFrame(query, word)) &&
    onlyCandidate.every((word) => inVerbFrame(candidate, word));
  return { onlyQuery, onlyCandidate, verbs };
}

/** The first rule that rejects a pair whatever its topic words (numbers, names, intent, frame…), if any. */
function outright(query: TextFeatures, candidate: TextFeatures): MatchVerdict | undefined {
  if (query.words.length === 0 || candidate.words.length === 0) return reject('empty', 'no words');
  if (!sameSet(query.numbers, candidate.numbers)) {
    return reject('numbers', `${[...query.numbers].join(',')} vs ${[...candidate.numbers].join(',')}`);
  }
  if (!sameSet(query.units, candidate.units)) {
    return reject('units', `${[...query.units].join(',')} vs ${[...candidate.units].join(',')}`);
  }
  if (query.negated !== candidate.negated) {
    return reject('negation', query.negated ? 'query negated' : 'candidate negated');
  }
  const missingName = missingNames(query, candidate)[0] ?? missingNames(candidate, query)[0];
  if (missingName !== undefined) return reject('names', missingName);
  const [left, right] = [query.intent, candidate.intent];
  if (left !== right && left !== undefined && right !== undefined) {
    if (specificIntents.has(left) && specificIntents.has(right))
      return reject('intent', `${left} vs ${right}`);
  }
  const frames = framesConflict(query.frames, candidate.frames);
  if (frames !== undefined) return reject('frame', frames);
  const opposite = opposed(query, candidate);
  if (opposite !== undefined) return reject('opposites', opposite);
  if (query.quotes.join('|') !== candidate.quotes.join('|')) {
    return reject('quotes', `${query.quotes.join('|')} vs ${candidate.quotes.join('|')}`);
  }
  if (rolesSwapped(query, candidate)) return reject('order', 'same words, roles swapped');
  if (personChanged(query, candidate)) return reject('person', 'you vs we');
  return undefined;
}

/**
 * The second stage of a semantic match: cosine similarity says two prompts are about the same thing; this
 * says whether one's answer also answers the other. It rejects the near-misses embeddings score high:
 * different numbers or years, different units, one negated and one not, a name in one missing from the other,
 * different question words (how vs why vs when…), different question frames (what it is vs how to get it),
 * opposite words (best vs worst, men vs women), the reader
 * against a group (you vs we), and topic words of one missing from the other beyond `maxSwappedWords`. Symmetric, pure and deterministic; ≈ 5–10 µs.
 */
export function confirmMatch(
  queryText: string,
  candidateText: string,
  options: ConfirmOptions = { maxSwappedWords: 1 },
): MatchVerdict {
  const query = featuresOf(queryText);
  const candidate = featuresOf(candidateText);
  // The outright rules first: most candidates they reject never need their topic words compared.
  const rejection = outright(query, candidate);
  if (rejection !== undefined) return rejection;
  return verdictOf({ query, candidate, rejection, ...topicWordsApart(query, candidate) }, options);
}

/** The rule-based verdict on an analysed pair (see `confirmMatch`). */
export function verdictOf(
  analysis: MatchAnalysis,
  options: ConfirmOptions = { maxSwappedWords: 1 },
): MatchVerdict {
  const { rejection, onlyQuery, onlyCandidate, verbs } = analysis;
  if (rejection !== undefined) return rejection;
  const swapped = onlyQuery.length > 0 && onlyCandidate.length > 0;
  const extra = onlyQuery.length + onlyCandidate.length;
  if (extra > 0 && (!swapped || Math.max(onlyQuery.length, onlyCandidate.length) > options.maxSwappedWords)) {
    return reject('coverage', `${onlyQuery.join(',')} vs ${onlyCandidate.join(',')}`);
  }
  if (extra === 0) return accepted;
  return {
    accept: true,
    reason: 'accepted',
    swappedWords: onlyQuery.length,
    swappedVerbs: verbs,
    detail: `${onlyQuery.join(',')} vs ${onlyCandidate.join(',')}`,
  };
}
