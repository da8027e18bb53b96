// The frame of a question: what kind of answer its syntax asks for, at a finer grain than its question word.
// Read by the second-stage check (confirm-match.ts) to reject two questions with the same topic words that ask
// different things of them (`What is malaria?` / `How do you get malaria?`).
import {
  auxiliaries,
  comparisonWords,
  mannerNouns,
  modals,
  perceptionVerbs,
  selectionWords,
  subjectPronouns,
} from './match-words.ts';

/**
 * - `manner`: the way to do something (`how do I…`, `how to…`, `what is the best way / what are the steps to…`,
 *   a passive `how is it made`).
 * - `state`: what something is like (`how is the job?`, `what is it like to…`, `how does it taste?`).
 * - `extent`: a degree (`how common is…`, `how safe was it`).
 * - `definition`: what something is (`what is malaria?`), not a choice among several (`what is the best…`).
 * - `function`: what someone or something does (`what does a nurse do?`).
 * - `comparison`: how two things differ or relate, whatever its question word.
 * - `yes-no`, and `other` (every other question: why, when, who, which…, and `what` questions of other shapes).
 */
export type Frame =
  | 'manner'
  | 'state'
  | 'extent'
  | 'definition'
  | 'function'
  | 'comparison'
  | 'yes-no'
  | 'other';

/**
 * Frames that ask different things of the same words: a way to do it against what it is, what it does, what
 * it is like, or how much of it there is; what it is or does against what it is like; what it is against how much.
 */
const conflicting = new Set([
  'definition/manner',
  'manner/state',
  'extent/manner',
  'definition/state',
  'definition/extent',
  'extent/state',
  'function/manner',
  'function/state',
]);

const be = new Set(['is', 'am', 'are', 'was', 'were']);

/** `what's` → `what is`, `how're` → `how are`: the copula of a contracted question word or pronoun. */
function expanded(words: readonly string[]): string[] {
  return words.flatMap((word) => {
    const match = /^(what|how|who|where|when|it|that|there)'(s|re)$/.exec(word);
    return match === null ? [word] : [match[1]!, match[2] === 's' ? 'is' : 'are'];
  });
}

/** Irregular past participles common in passive how-questions (`how is it made`); regular ones end in -ed. */
const irregularParticiples = new Set(
  `made built done seen known taken written grown held sold paid taught found kept spent chosen brought bought
  caught given shown won lost told said drawn born eaten driven broken spoken worn`
    .split(/\s+/)
    .filter((word) => word !== ''),
);
const participle = (word: string) =>
  (word.length > 4 && word.endsWith('ed')) || irregularParticiples.has(word);

/**
 * `like` as the preposition of `what is it like (to…)`: the question's last word, or before `to`, `for`, `when`,
 * `if`, a preposition of place or role (`in`, `at`, `on`, `as`, `with`) or an -ing word; and not a verb after its
 * subject, a modal, `to` or `not` (`what do you like…`).
 */
function likeAsking(rest: readonly string[]): boolean {
  return rest.some((word, at) => {
    if (word !== 'like') return false;
    const before = rest[at - 1] ?? '';
    const after = rest[at + 1];
    const verb =
      (subjectPronouns.has(before) && before !== 'it') ||
      modals.has(before) ||
      before === 'to' ||
      before === 'not';
    return !verb && (after === undefined || /^(?:to|for|when|if|in|at|on|as|with|\p{L}+ing)$/u.test(after));
  });
}

/** The frame of one question, from its words (lower case, as `featuresOf` reads them). */
export function frameOf(questionWords: readonly string[]): Frame {
  const words = expanded(questionWords);
  if (words.some((word) => comparisonWords.has(word))) return 'comparison';
  const mannerNoun = words.some((word) => mannerNouns.has(word));
  if (auxiliaries.has(words[0] ?? '')) return mannerNoun ? 'manner' : 'yes-no';
  for (let at = 0; at < words.length; at++) {
    const word = words[at]!;
    const rest = words.slice(at + 1);
    const next = rest[0] ?? '';
    if (word === 'how') {
      if (next === 'come') return 'other';
      if (modals.has(next) || next === 'to') {
        // `How does it taste / look / feel?`: a perception verb asks what it is like.
        return rest.some((other) => perceptionVerbs.has(other)) ? 'state' : 'manner';
      }
      if (be.has(next)) return rest.slice(1).some(participle) ? 'manner' : 'state';
      // `How common is…`: `how`, one word, then a verb. After an adverb in -ly or `else` (`how exactly does it
      // work`, `how quickly can I…`) or a pronoun starting an embedded clause (`how we can save water`) the
      // frame is left open.
      const degreeWord = next !== '' && !next.endsWith('ly') && next !== 'else' && !subjectPronouns.has(next);
      if (degreeWord && (auxiliaries.has(rest[1] ?? '') || be.has(rest[1] ?? ''))) return 'extent';
      return 'other';
    }
    if (word === 'what' || word === 'which') {
      if (mannerNoun) return 'manner';
      if (likeAsking(rest)) return 'state';
      // `What does a nurse do?`: do-support, a subject that is not a pronoun (`what do I do?` asks advice), `do`.
      const subject = rest.slice(1, -1);
      if (
        /^do(?:es)?$|^did$/.test(next) &&
        rest.at(-1) === 'do' &&
        subject.some((other) => !subjectPronouns.has(other))
      ) {
        return 'function';
      }
      const choice = rest.some((other) => selectionWords.has(other) || /^\p{L}{3,}est$/u.test(other));
      return word === 'what' && be.has(next) && !choice ? 'definition' : 'other';
    }
    if (/^(?:why|when|where|who|whom|whose)$/.test(word)) return 'other';
  }
  return mannerNoun ? 'manner' : 'other';
}

/**
 * Whether two texts' questions ask different things: their first questions' frames conflict and neither text
 * asks, in any of its questions, the other's first frame (`What was the Berlin Wall? How did it fall?` also
 * asks what `How did the Berlin Wall fall?` asks). Returns `definition vs manner` and the like.
 */
export function framesConflict(left: readonly Frame[], right: readonly Frame[]): string | undefined {
  const [first, second] = [left[0], right[0]];
  if (first === undefined || second === undefined || first === second) return undefined;
  if (right.includes(first) || left.includes(second)) return undefined;
  return conflicting.has([first, second].sort().join('/')) ? `${first} vs ${second}` : undefined;
}
