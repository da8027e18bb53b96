// What the second-stage check (confirm-match.ts) reads from one prompt: its words, numbers and units, names,
// negation and question intent. Pure functions of the text.
import { auxiliaries, functionWords, negations, numberWords, quantityAfterHow } from './match-words.ts';
import { type Frame, frameOf } from './question-frame.ts';

/** What a question asks for, from its question word. `what`/`which` and yes/no questions are open. */
export type Intent = 'manner' | 'reason' | 'time' | 'place' | 'person' | 'quantity' | 'open' | 'yes-no';

export interface TextFeatures {
  /** Every word, lower case, `’` as `'`. */
  readonly words: readonly string[];
  /** Every word's stem (see `stem`). */
  readonly stems: readonly string[];
  /** Stems of the topic words: not function words, not numbers. */
  readonly content: readonly string[];
  /** Stems of the names: capitalised words not opening a sentence, acronyms, mixed case, `c++`, `a.com`. */
  readonly names: readonly string[];
  /** Every number, written in digits or words, as its canonical value (`10k` and `10,000` are `10000`). */
  readonly numbers: ReadonlySet<string>;
  /** Canonical units and currencies next to or among the words (`km`, `usd`, `percent`, …). */
  readonly units: ReadonlySet<string>;
  readonly negated: boolean;
  /** The intent of the first question (or of the first sentence when none ends in `?`). */
  readonly intent: Intent | undefined;
  /** The frame of each question, in order (of the first sentence when none ends in `?`); see question-frame.ts. */
  readonly frames: readonly Frame[];
  /** Quoted spans, lower case, words only: a quote is asked about literally. */
  readonly quotes: readonly string[];
  /** The initials of each run of capitalised words (`search engine optimisation` → `seo`), for acronyms. */
  readonly initials: ReadonlySet<string>;
}

const wordPattern = /[\p{L}\p{N}]+(?:['’.+#&][\p{L}\p{N}]+)*[+#]*/gu;
const numberPattern = /\d+(?:,\d{3})*(?:\.\d+)?(?:\s?([kK])(?![\p{L}\p{N}]))?/gu;

const unitNames: ReadonlyArray<readonly [string, string]> = [
  ['km kms kilometer kilometers kilometre kilometres', 'km'],
  ['mile miles mi', 'mile'],
  ['m meter meters metre metres', 'm'],
  ['cm centimeter centimeters', 'cm'],
  ['mm millimeter millimeters', 'mm'],
  ['inch inches', 'inch'],
  ['ft foot feet', 'foot'],
  ['kg kgs kilo kilos kilogram kilograms', 'kg'],
  ['g gram grams', 'g'],
  ['lb lbs pound pounds', 'pound'],
  ['oz ounce ounces', 'ounce'],
  ['l liter liters litre litres', 'litre'],
  ['ml milliliter milliliters', 'ml'],
  ['gallon gallons', 'gallon'],
  ['celsius centigrade', 'celsius'],
  ['fahrenheit', 'fahrenheit'],
  ['usd dollar dollars $', 'usd'],
  ['eur euro euros €', 'eur'],
  ['gbp £', 'gbp'],
  ['inr rs rupee rupees lakh lakhs crore crores ₹', 'inr'],
  ['yen yuan rmb ¥', 'yen'],
  ['percent percentage %', 'percent'],
  ['second seconds sec secs', 'second'],
  ['minute minutes min mins', 'minute'],
  ['hour hours hr hrs', 'hour'],
  ['day days', 'day'],
  ['week weeks', 'week'],
  ['month months', 'month'],
  ['year years yr yrs', 'year'],
  ['kb', 'kb'],
  ['mb', 'mb'],
  ['gb', 'gb'],
  ['tb', 'tb'],
  ['ghz', 'ghz'],
  ['mhz', 'mhz'],
  ['w watt watts', 'watt'],
  ['kw kilowatt kilowatts', 'kw'],
  ['kwh', 'kwh'],
  ['mph', 'mph'],
  ['kmph kph', 'kmph'],
];
const units = new Map(unitNames.flatMap(([names, unit]) => names.split(' ').map((name) => [name, unit])));

const questionWords = new Map<string, Intent>([
  ['how', 'manner'],
  ['why', 'reason'],
  ['when', 'time'],
  ['where', 'place'],
  ['who', 'person'],
  ['whom', 'person'],
  ['whose', 'person'],
  ['what', 'open'],
  ['which', 'open'],
  ["what's", 'open'],
  ["how's", 'manner'],
  ["where's", 'place'],
  ["who's", 'person'],
  ["when's", 'time'],
]);

/**
 * A light suffix-stripper, enough to equate `repeat`/`repeated`/`repeats`, `question`/`questions`: lower case,
 * no possessive, then one of -ies/-ing/-ed/-es/-s off words long enough to keep a stem of 3+ letters.
 * Stems that still differ by an ending are matched by prefix in `sameWord`.
 */
export function stem(word: string): string {
  let w = word.toLowerCase().replace(/’/g, "'");
  if (w.endsWith("'s")) w = w.slice(0, -2);
  if (w.length > 5 && w.endsWith('ies')) return `${w.slice(0, -3)}y`;
  if (w.length > 5 && w.endsWith('ing')) return w.slice(0, -3);
  if (w.length > 4 && w.endsWith('ed')) return w.slice(0, -2);
  if (w.length > 4 && /(?:ss|sh|ch|x)es$/.test(w)) return w.slice(0, -2);
  if (w.length > 3 && w.endsWith('s') && !/(?:ss|us|is)$/.test(w)) return w.slice(0, -1);
  return w;
}

/**
 * Two stems name the same word: equal; or one of 4+ letters begins the other (`comput` / `computation`); or,
 * both of 5+ letters, one edit apart (`favourite` / `favorite`, `realise` / `realize`, a typo).
 */
export function sameWord(a: string, b: string): boolean {
  if (a === b) return true;
  const [short, long] = a.length <= b.length ? [a, b] : [b, a];
  if (short.length >= 4 && long.startsWith(short.endsWith('e') ? short.slice(0, -1) : short)) return true;
  return short.length >= 5 && long.length - short.length <= 1 && oneEdit(short, long);
}

/** Whether `long` (as long as `short` or one longer) is `short` with one letter changed or inserted. */
function oneEdit(short: string, long: string): boolean {
  let i = 0;
  while (i < short.length && short[i] === long[i]) i++;
  // Past the first difference, `long` skips one letter; `short` skips it too when it was a change.
  return long.slice(i + 1) === short.slice(long.length > short.length ? i : i + 1);
}

function numbersOf(text: string, words: readonly string[]): Set<string> {
  const found = new Set<string>();
  // A year range's short end is a year: 2016-17 and 2016/2017 both mean 2016 and 2017.
  const expanded = text.replace(
    /\b((?:19|20)\d)(\d)\s?[-–/]\s?(\d\d)\b/g,
    (_, century: string, last: string, end: string) => `${century}${last} ${century.slice(0, 2)}${end}`,
  );
  for (const match of expanded.matchAll(numberPattern)) {
    const value = Number(match[0].replace(/[,\s]|[kK]$/g, '')) * (match[1] === undefined ? 1 : 1000);
    found.add(String(value));
  }
  for (const word of words) {
    const value = numberWords.get(word);
    if (value !== undefined) found.add(String(value));
  }
  return found;
}

/** Units written next to a number: `$5`, `5%`, `5 km`, `5km`, `Rs 500`; a unit word alone is just a word. */
function unitsOf(text: string, words: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (const match of text.matchAll(/([$€£₹¥])\s?\d|\d\s?(%)/g)) found.add(units.get(match[1] ?? match[2]!)!);
  words.forEach((word, at) => {
    const glued = /^\d+(?:\.\d+)?([a-z]+)$/.exec(word)?.[1];
    const unit = units.get(glued ?? word);
    const besideNumber = /^\d/.test(words[at - 1] ?? '') || /^\d/.test(words[at + 1] ?? '');
    if (unit !== undefined && (glued !== undefined || besideNumber)) found.add(unit);
  });
  return found;
}

/** The words of each question (sentences ending in `?`), or of the first sentence when none does. */
function questionsOf(text: string): string[][] {
  const sentences = text.split(/(?<=[?.!])\s+/).filter((sentence) => sentence.trim() !== '');
  const questions = sentences.filter((sentence) => sentence.trim().endsWith('?'));
  return (questions.length > 0 ? questions : sentences.slice(0, 1)).map((question) =>
    (question.match(wordPattern) ?? []).map((word) => word.toLowerCase().replace(/’/g, "'")),
  );
}

function intentOf(words: readonly string[]): Intent | undefined {
  if (words[0] !== undefined && auxiliaries.has(words[0])) return 'yes-no';
  for (let i = 0; i < words.length; i++) {
    const intent = questionWords.get(words[i]!);
    if (intent === undefined) continue;
    if (intent === 'manner' && quantityAfterHow.has(words[i + 1] ?? '')) return 'quantity';
    if (intent === 'manner' && words[i + 1] === 'come') return 'reason';
    // `What causes…`, `What is the reason…`: a why-question in other words.
    if (intent === 'open' && words.slice(i + 1, i + 4).some((word) => /^(?:caus|reason)/.test(word))) {
      return 'reason';
    }
    return intent;
  }
  return undefined;
}

/** Whether a negation is the idiom `or not` / `why not` / `not only`, which negates nothing asked. */
function idiomatic(words: readonly string[], at: number): boolean {
  const before = words[at - 1];
  return before === 'or' || before === 'why' || words[at + 1] === 'only';
}

/**
 * The text as compared: accents off (`Pokémon` = `pokemon`), and a text wholly in double quotes with its inner
 * quotes doubled (CSV's escaping) unwrapped, so its real quotes are seen as quotes.
 */
function plain(raw: string): string {
  let text = raw.normalize('NFKD').replace(/\p{M}+/gu, '');
  if (/^".*"$/s.test(text) && text.includes('""')) text = text.slice(1, -1).replace(/""/g, '"');
  return text;
}

/** Initials of every run of 2–5 consecutive words, so `SEO` or `U.S.` can match what they stand for. */
function initialsOf(words: readonly string[]): Set<string> {
  const found = new Set<string>();
  for (let from = 0; from < words.length; from++) {
    let initials = '';
    for (let to = from; to < Math.min(words.length, from + 5); to++) {
      initials += words[to]![0];
      if (to > from) found.add(initials);
    }
  }
  return found;
}

/**
 * A function word, contracted ones included: `you've`, `what's`, `isn't`, `won't` are function words (`you`,
 * `what`, `is`, `wo`) with a clitic, not topic words.
 */
function isFunctionWord(word: string): boolean {
  return functionWords.has(word) || functionWords.has(word.replace(/n't$|'(?:s|ve|ll|re|d|m)$/, ''));
}

/** Reads the features of one prompt. */
export function featuresOf(raw: string): TextFeatures {
  const text = plain(raw);
  const tokens = [...text.matchAll(wordPattern)];
  const words = tokens.map((token) => token[0].toLowerCase().replace(/’/g, "'"));
  const stems = words.map(stem);
  const negated = words.some(
    (word, at) => (negations.has(word) && !idiomatic(words, at)) || word.endsWith("n't"),
  );
  // In Title Case Text a capital says nothing; only acronyms and mixed case still mark a name there.
  const capitalised = tokens.filter((token, at) => at > 0 && /^\p{Lu}/u.test(token[0])).length;
  const titleCase = tokens.length > 3 && capitalised >= (tokens.length - 1) * 0.6;
  const names: string[] = [];
  tokens.forEach((token, at) => {
    const word = token[0];
    if (functionWords.has(words[at]!) || word === 'I' || /^I['’]/.test(word) || /^\d+$/.test(word)) return;
    const opensSentence = at === 0 || /[.?!:;"(]\s*$/.test(text.slice(0, token.index));
    const capital = /^\p{Lu}/u.test(word) && !opensSentence && !titleCase;
    const inner = /.\p{Lu}/u.test(word) || /[.+#]/.test(word);
    if (capital || inner) names.push(stems[at]!.replace(/\./g, ''));
  });
  const numbers = numbersOf(text, words);
  const questions = questionsOf(text);
  const content = stems.filter(
    (s, at) =>
      !isFunctionWord(words[at]!) &&
      !negations.has(words[at]!) &&
      !/^\d/.test(s) &&
      !numberWords.has(words[at]!),
  );
  return {
    words,
    stems,
    content,
    names,
    numbers,
    units: unitsOf(text, words),
    negated,
    intent: intentOf(questions[0] ?? []),
    frames: questions.map(frameOf),
    initials: initialsOf(words.filter((word) => !functionWords.has(word) || word === 'of')),
    quotes: [...text.matchAll(/"+([^"]+)"+|“([^”]+)”/g)].map((match) =>
      (match[1] ?? match[2]!)
        .toLowerCase()
        .replace(/[^\p{L}\p{N}]+/gu, ' ')
        .trim(),
    ),
  };
}
