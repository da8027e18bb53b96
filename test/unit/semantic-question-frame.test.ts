import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type Frame, frameOf, framesConflict } from '../../src/cache/semantic/question-frame.ts';
import { featuresOf } from '../../src/cache/semantic/text-features.ts';

const frame = (question: string) => featuresOf(question).frames[0];

describe('question frames', () => {
  it('reads the way to do something', () => {
    for (const question of [
      'How do I learn chess?',
      'How to learn chess?',
      'What is the best way to learn chess?',
      'What are the steps to learn chess?',
      'Is there any way to learn chess fast?',
      'How is cheese made?',
    ]) {
      assert.equal(frame(question), 'manner', question);
    }
  });

  it('reads what something is like', () => {
    for (const question of [
      'How is the nursing job?',
      "How's life in Lisbon?",
      'What is it like to be a nurse?',
      'What is Lisbon like?',
      'What is Lisbon like in winter?',
      'What does mint tea taste like?',
      'How does mint tea taste?',
    ]) {
      assert.equal(frame(question), 'state', question);
    }
  });

  it('reads a degree, a definition and a function', () => {
    assert.equal(frame('How common is insomnia?'), 'extent');
    assert.equal(frame('How safe was the old bridge?'), 'extent');
    assert.equal(frame('What is insomnia?'), 'definition');
    assert.equal(frame("What's a mortgage?"), 'definition');
    assert.equal(frame('What does a pharmacist do?'), 'function');
  });

  it('leaves choices, advice, comparisons and other questions apart', () => {
    assert.equal(frame('What is the best laptop for students?'), 'other', 'a choice, not a definition');
    assert.equal(frame('What are some good books on chess?'), 'other');
    assert.equal(frame('What do I do?'), 'other', 'advice, not what someone does');
    assert.equal(frame('What do you like about Lisbon?'), 'other', '`like` as a verb');
    assert.equal(frame('What are some cities like Lisbon?'), 'other', '`like` meaning similar to');
    assert.equal(frame('How are frogs different from toads?'), 'comparison');
    assert.equal(frame('How do frogs differ from toads?'), 'comparison');
    assert.equal(frame('How we can save water at home?'), 'other');
    assert.equal(frame('How exactly does a lock work?'), 'other', 'left open after an adverb');
    assert.equal(frame('Is insomnia dangerous?'), 'yes-no');
    assert.equal(frame('Why is insomnia common?'), 'other');
    assert.deepEqual(frameOf([]), 'other');
  });

  it('finds a conflict only when neither text asks what the other asks first', () => {
    const conflict = (left: Frame[], right: Frame[]) => framesConflict(left, right);
    assert.equal(conflict(['definition'], ['manner']), 'definition vs manner');
    assert.equal(conflict(['definition', 'manner'], ['manner']), undefined);
    assert.equal(conflict(['definition', 'yes-no'], ['manner', 'yes-no']), 'definition vs manner');
    assert.equal(
      conflict(['manner'], ['yes-no']),
      undefined,
      'a yes/no question and a how-to often ask alike',
    );
    assert.equal(conflict(['definition'], ['function']), undefined);
    assert.equal(conflict([], ['manner']), undefined);
  });
});
