// The English word lists behind the second-stage check (confirm-match.ts). General function words and
// closed word classes only: nothing here names a topic, product or place.

/** Words that mark a negated statement. `n't` endings count too (see confirm-match.ts). */
export const negations = new Set([
  'not',
  'no',
  'never',
  'without',
  'nothing',
  'none',
  'nobody',
  'nowhere',
  'neither',
  'nor',
  'cannot',
]);

/** Cardinal number words → their value (`one` is left out: it is far more often a pronoun). */
export const numberWords = new Map<string, number>([
  ['zero', 0],
  ['two', 2],
  ['three', 3],
  ['four', 4],
  ['five', 5],
  ['six', 6],
  ['seven', 7],
  ['eight', 8],
  ['nine', 9],
  ['ten', 10],
  ['eleven', 11],
  ['twelve', 12],
  ['thirteen', 13],
  ['fifteen', 15],
  ['twenty', 20],
  ['thirty', 30],
  ['forty', 40],
  ['fifty', 50],
  ['hundred', 100],
  ['thousand', 1000],
  ['million', 1_000_000],
  ['billion', 1_000_000_000],
  ['dozen', 12],
  ['half', 0.5],
  ['twice', 2],
  ['double', 2],
  ['triple', 3],
]);

/** Pairs of opposites: one text with one side and the other with the other side ask different things. */
export const opposites: ReadonlyArray<readonly [string, string]> = [
  ['good', 'bad'],
  ['best', 'worst'],
  ['better', 'worse'],
  ['more', 'less'],
  ['most', 'least'],
  ['advantage', 'disadvantage'],
  ['benefit', 'drawback'],
  ['increase', 'decrease'],
  ['before', 'after'],
  ['buy', 'sell'],
  ['male', 'female'],
  ['man', 'woman'],
  ['men', 'women'],
  ['boy', 'girl'],
  ['boyfriend', 'girlfriend'],
  ['husband', 'wife'],
  ['rise', 'fall'],
  ['start', 'stop'],
  ['win', 'lose'],
  ['love', 'hate'],
  ['first', 'last'],
  ['old', 'new'],
  ['young', 'old'],
  ['cheap', 'expensive'],
  ['easy', 'hard'],
  ['easy', 'difficult'],
  ['fast', 'slow'],
  ['high', 'low'],
  ['strong', 'weak'],
  ['rich', 'poor'],
  ['import', 'export'],
  ['legal', 'illegal'],
  ['possible', 'impossible'],
  ['positive', 'negative'],
  ['true', 'false'],
  ['right', 'wrong'],
  ['big', 'small'],
  ['large', 'small'],
  ['long', 'short'],
  ['gain', 'lose'],
  ['private', 'public'],
  ['online', 'offline'],
  ['minimum', 'maximum'],
  ['same', 'different'],
  ['agree', 'disagree'],
  ['like', 'dislike'],
  ['happy', 'sad'],
  ['safe', 'dangerous'],
  ['healthy', 'unhealthy'],
  ['success', 'failure'],
  ['successful', 'unsuccessful'],
  ['employer', 'employee'],
  ['buyer', 'seller'],
  ['teacher', 'student'],
  ['parent', 'child'],
  ['north', 'south'],
  ['east', 'west'],
  ['hot', 'cold'],
  ['past', 'future'],
  ['upload', 'download'],
  ['send', 'receive'],
  ['input', 'output'],
  ['inside', 'outside'],
  ['internal', 'external'],
  ['add', 'remove'],
  ['open', 'close'],
  ['up', 'down'],
  ['above', 'below'],
];

/**
 * Function words: they carry grammar, not the topic, so they are left out when the check asks whether every
 * topic word of one text appears in the other.
 */
export const functionWords = new Set(
  `a an the this that these those some any each every all both either such
  i me my mine myself we us our ours you your yours yourself u ur he him his she her hers it its they them their
  one ones someone somebody something anyone anybody anything people person thing things
  is am are was were be been being do does did doing done have has had having get gets got getting
  can could may might must shall should will would wo ca
  and or but if then so than too very also just only still really actually ever already while whilst though
  although because since until
  of in on at to for from by with about as into onto over under between through during via per
  what which who whom whose when where why how whether there here
  s t d ll re ve m
  way ways best good top most some many much lot lots kind type types
  quora please`
    .split(/\s+/)
    .filter((word) => word !== ''),
);

/** Auxiliaries that open a yes/no question. */
export const auxiliaries = new Set(
  'is am are was were do does did can could may might must shall should will would has have had'.split(' '),
);

/** After `how`: it asks for a quantity, not a manner. */
export const quantityAfterHow = new Set(
  'many much long often old far big tall large small fast soon expensive hard difficult heavy'.split(' '),
);

/**
 * Light words: verbs and adverbs that rarely change what is asked (`how do I usually…`, `what is going to
 * happen…`). A topic word of one text missing from the other is forgiven when it is one of these or an
 * adverb in -ly.
 */
export const lightWords = new Set(
  `become becoming get getting go going want wanna like know think need use using find happen happening help
  try able possible exactly really actually generally usually often always ever still currently nowadays today
  now anyway example examples various specific particular main true real correct proper effective effectively
  great nice awesome amazing important time times world thought problem worth`
    .split(/\s+/)
    .filter((word) => word !== ''),
);

/** The second person: the reader (see `personChanged` in confirm-match.ts). */
export const secondPerson = new Set(['you', 'your', 'yours', 'yourself', 'yourselves', 'u', 'ur']);

/** The first person plural: a group the asker belongs to. */
export const firstPlural = new Set(['we', 'us', 'our', 'ours', 'ourselves']);

/**
 * Subject pronouns: a topic word right after one is taken as a verb (`how do I raise…`, `can we fix…`).
 */
export const subjectPronouns = new Set('i you we they he she it one someone somebody people'.split(' '));

/** Words after which English always puts a verb (or an adjective): `to`, `be`, `not`. */
export const verbMarkers = new Set(['to', 'be', 'not']);

/**
 * Modals and `do`: a verb follows them only after their subject (`I can swim`). In a question they come first
 * and the next word is the subject (`what jobs do history majors get`, `can the old bridge be fixed`).
 */
export const modals = new Set('can could should would will may might must do does did'.split(' '));

/**
 * Nouns that name a manner: `what is the best way to…`, `what are the steps to…` ask what `how do I…` asks (see
 * question-frame.ts).
 */
export const mannerNouns = new Set(
  'way ways tip tips step steps method methods process procedure technique techniques strategy strategies'.split(
    ' ',
  ),
);

/** Verbs of perception that take an adjective: `how does it taste` asks what it is like, not a manner. */
export const perceptionVerbs = new Set(
  'taste tastes look looks feel feels sound sounds smell smells seem seems'.split(' '),
);

/** Words that make `what is…` a choice among several (`what is the best…`), not a definition. */
export const selectionWords = new Set('best good better top some any most favorite favourite to'.split(' '));

/** Words that make a question ask how two things differ or relate, whatever its question word. */
export const comparisonWords = new Set(
  `differ differs different difference differences similar similarity similarities alike compare compared
  comparison vs versus related`
    .split(/\s+/)
    .filter((word) => word !== ''),
);
