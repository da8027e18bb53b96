import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeMatch, confirmMatch, verdictOf } from '../../src/cache/semantic/confirm-match.ts';
import { decide, SEMANTIC_DEFAULTS } from '../../src/cache/semantic/semantic-matcher.ts';

function rejects(query: string, candidate: string, rule: string) {
  const verdict = confirmMatch(query, candidate);
  assert.equal(verdict.accept, false, `${query} / ${candidate} should be rejected`);
  assert.equal(verdict.reason, rule, `${query} / ${candidate}: ${verdict.detail}`);
  assert.equal(confirmMatch(candidate, query).reason, rule, 'the check is symmetric');
}

function accepts(query: string, candidate: string) {
  const verdict = confirmMatch(query, candidate);
  assert.equal(verdict.accept, true, `${query} / ${candidate}: ${verdict.reason} ${verdict.detail}`);
}

describe('second-stage check', () => {
  it('accepts rephrasings of the same question', () => {
    accepts('How do I make tea?', 'Recipe for tea');
    accepts('How do I make tea?', 'How can I make tea?');
    accepts('What are the benefits of green tea?', 'What is the benefit of green tea?');
    accepts('Is it safe to swim after eating?', 'Is it safe to go swimming after eating?');
    accepts('How do I learn Python quickly?', 'How can I learn python?');
    accepts('What is the best Pokémon game?', 'What is the best pokemon game?');
    accepts('Do you like cats? Why or why not?', 'Do you like cats?');
    accepts('When did you notice you have changed?', "When did you notice that you've changed?");
    accepts("How should one train one's memory?", 'How should I train my memory?');
  });

  it('rejects different numbers, years and spelled-out numbers', () => {
    rejects('How do I boil 2 eggs?', 'How do I boil 3 eggs?', 'numbers');
    rejects('Who won the election in 2012?', 'Who won the election in 2016?', 'numbers');
    rejects('Best phone under 10k?', 'Best phone under 15000?', 'numbers');
    rejects('How do I boil two eggs?', 'How do I boil eggs?', 'numbers');
    accepts('Best phone under 10k?', 'Best phone under 10,000?');
    accepts('Who will win the league in 2016-17?', 'Who will win the league in 2016/2017?');
  });

  it('rejects different units for the same number', () => {
    rejects('How long does it take to run 5 km?', 'How long does it take to run 5 miles?', 'units');
    rejects('Is $100 a lot for a watch?', 'Is 100% a lot for a watch?', 'units');
  });

  it('rejects a negated question against a plain one', () => {
    rejects('How do I make tea without milk?', 'How do I make tea with milk?', 'negation');
    rejects('Why does my car not start?', 'Why does my car start?', 'negation');
    rejects("Why can't I sleep at night?", 'Why can I sleep at night?', 'negation');
    rejects('Should I never drink coffee?', 'Should I drink coffee?', 'negation');
  });

  it('rejects a name in one question that the other does not have', () => {
    rejects('What is the capital of France?', 'What is the capital of Spain?', 'names');
    rejects('How do I install Docker on Ubuntu?', 'How do I install Docker?', 'names');
    rejects('Is example.com safe?', 'Is sample.org safe?', 'names');
    accepts('How do I get into MIT?', 'How can I get into mit?');
    const spelledOut = confirmMatch(
      'What does NASA do?',
      'What does the national aeronautics and space administration do?',
    );
    assert.notEqual(spelledOut.reason, 'names', 'an acronym matches the words it stands for');
  });

  it('rejects different question intents', () => {
    rejects('How did Rome fall?', 'Why did Rome fall?', 'intent');
    rejects('When was the bridge built?', 'Where was the bridge built?', 'intent');
    rejects('How much does a bike cost?', 'How do I choose a bike?', 'intent');
    rejects('What causes rain?', 'How does rain form?', 'intent');
  });

  it('rejects the same words asking a different frame: what it is, is like, does, how much, or how to', () => {
    rejects('What is malaria?', 'How do you get malaria?', 'frame');
    rejects('How is the nursing job?', 'How do I get a nursing job?', 'frame');
    rejects('What does a pharmacist do?', 'How do I become a pharmacist?', 'frame');
    rejects('What is it like to be a pharmacist?', 'What does a pharmacist do?', 'frame');
    rejects('How safe is skydiving?', 'What is skydiving?', 'frame');
    rejects('How common is insomnia?', 'What is insomnia like?', 'frame');
    accepts('What is the best way to learn chess?', 'How do I learn chess?');
    accepts('What does mint tea taste like?', 'How does mint tea taste?');
    accepts('How is cheese made?', 'How do you make cheese?');
    accepts('What was the Berlin Wall? How did it fall?', 'How did the Berlin Wall fall?');
    accepts('How do frogs differ from toads?', 'How are frogs different from toads?');
  });

  it('rejects opposites and swapped roles', () => {
    rejects(
      'What are the advantages of remote work?',
      'What are the disadvantages of remote work?',
      'opposites',
    );
    rejects('What is the best laptop for students?', 'What is the worst laptop for students?', 'opposites');
    rejects('Is it easy to learn piano?', 'Is it hard to learn piano?', 'opposites');
    rejects('Do cats chase dogs?', 'Do dogs chase cats?', 'order');
  });

  it('rejects different quoted text and topic words added or swapped past the limit', () => {
    rejects('What does "carpe diem" mean?', 'What does "memento mori" mean?', 'quotes');
    rejects(
      'How do I delete photos from my phone?',
      'How do I delete photos from my phone via my laptop?',
      'coverage',
    );
    rejects('How do I paint a wooden fence?', 'How do I repair a metal gate?', 'coverage');
  });

  it('rejects the reader against a group, but not the generic you of a how-to question', () => {
    rejects('Why do you like jazz?', 'Why do we like jazz?', 'person');
    accepts('How do I fix a flat tyre?', 'How do you fix a flat tyre?');
    accepts('How can one fix a flat tyre?', 'How do you fix a flat tyre?');
  });

  it('marks a swap of verbs in a verb frame apart from a swap of nouns', () => {
    const verbs = confirmMatch('How do I raise my savings rate?', 'How can I increase my savings rate?');
    assert.equal(verbs.accept, true);
    assert.equal(verbs.swappedWords, 1);
    assert.equal(verbs.swappedVerbs, true);
    const nouns = confirmMatch(
      'How do I become a nurse in the army?',
      'How do I become a pilot in the army?',
    );
    assert.equal(nouns.accept, true);
    assert.equal(nouns.swappedVerbs, false);
  });

  it('reads the word after a question-opening modal or do as its subject, not a verb', () => {
    const inverted = confirmMatch(
      'Which jobs do history graduates usually get?',
      'Which jobs do biology graduates usually get?',
    );
    assert.equal(inverted.accept, true);
    assert.equal(inverted.swappedVerbs, false, 'history / biology are subjects after an inverted do');
    const afterSubject = confirmMatch('Can we mend a torn sail at sea?', 'Can we patch a torn sail at sea?');
    assert.equal(afterSubject.swappedVerbs, true, 'mend / patch follow their subject');
    const afterModal = confirmMatch('What tools people can borrow here', 'What tools people can rent here');
    assert.equal(afterModal.swappedVerbs, true, 'a modal after its subject is followed by a verb');
  });

  it('rejects empty text', () => {
    assert.equal(confirmMatch('', 'How do I make tea?').reason, 'empty');
  });

  it('analyses a pair: the outright rejection, the topic words each side lacks, and the same verdict', () => {
    const swap = analyzeMatch('How can I raise my credit score?', 'How do I increase my credit score?');
    assert.equal(swap.rejection, undefined);
    assert.deepEqual([swap.onlyQuery, swap.onlyCandidate, swap.verbs], [['raise'], ['increase'], true]);
    const nouns = analyzeMatch('What jobs do history majors get?', 'What jobs do biology majors get?');
    assert.deepEqual([nouns.onlyQuery, nouns.onlyCandidate, nouns.verbs], [['history'], ['biology'], false]);
    const years = analyzeMatch('Who won the cup in 2014?', 'Who won the cup in 2018?');
    assert.equal(
      years.rejection?.reason,
      'numbers',
      'an outright rule is reported whatever the topic words say',
    );
    const added = analyzeMatch('How do I clean a leather sofa?', 'How do I clean a sofa?');
    assert.deepEqual([added.onlyQuery, added.onlyCandidate], [['leather'], []]);
    for (const [query, candidate] of [
      ['How can I raise my credit score?', 'How do I increase my credit score?'],
      ['Who won the cup in 2014?', 'Who won the cup in 2018?'],
      ['How do I clean a leather sofa?', 'How do I clean a sofa?'],
      ['How do I make tea?', 'How can I make tea?'],
    ] as const) {
      assert.deepEqual(verdictOf(analyzeMatch(query, candidate)), confirmMatch(query, candidate));
    }
  });

  it('is fast: under a millisecond per pair, even on a busy machine', () => {
    const started = performance.now();
    for (let i = 0; i < 2000; i++) confirmMatch('How do I make tea without milk?', `How do I make tea ${i}?`);
    const micros = ((performance.now() - started) * 1000) / 2000;
    assert.ok(micros < 1000, `${micros.toFixed(1)} µs per pair`);
  });
});

describe('decide', () => {
  it('needs the threshold, the second stage, and a higher bar for a swapped word outside a verb frame', () => {
    const { threshold, swapThreshold } = SEMANTIC_DEFAULTS;
    assert.equal(
      decide(threshold - 0.01, 'How do I make tea?', 'How can I make tea?').reason,
      'below-threshold',
    );
    assert.equal(decide(threshold, 'How do I make tea?', 'How can I make tea?').accept, true);
    assert.equal(decide(0.99, 'How do I boil 2 eggs?', 'How do I boil 3 eggs?').reason, 'numbers');
    const swap = ['How do astronauts shower in space?', 'How do astronauts bathe in space?'] as const;
    assert.equal(decide(swapThreshold - 0.01, ...swap).reason, 'swap-below-threshold');
    assert.equal(decide(swapThreshold, ...swap).accept, true);
    assert.equal(decide(0.99, ...swap, { ...SEMANTIC_DEFAULTS, secondStage: false }).accept, true);
    const verbs = ['How do I raise my savings rate?', 'How can I increase my savings rate?'] as const;
    assert.equal(
      decide(threshold, ...verbs).accept,
      true,
      'a verb swapped in its frame needs only the threshold',
    );
    const nouns = ['How do I become a nurse in the army?', 'How do I become a pilot in the army?'] as const;
    assert.equal(decide(swapThreshold - 0.01, ...nouns).reason, 'swap-below-threshold');
  });
});
