#!/usr/bin/env python3
"""Differential test: ringnova's policy engine against oslo.policy, the reference.

Generates random cases (a rule expression, a few named rules, credentials, a target),
evaluates each with oslo.policy (an Enforcer with the case's rules, Nova's ``is_admin``
check registered the way Nova registers it) and with ``ringnova policy check --batch``
(all cases in one process), and compares the answers.

Answers are compared in three classes: ``allowed``, ``denied``, and ``error``. oslo
raising an exception (a rule loop's RecursionError, a TypeError from indexing a string
with a dotted path, a remote check that cannot connect, a bad ``%`` format) is ``error``;
ringnova never raises: it denies, and with ``--explain`` says the denial came from a
rule loop or from a check that cannot be evaluated, which is its ``error`` class. Nova
turns such an exception into a 500; ringnova answers 403 instead (fail closed, and no
internal error for an operator's rule text), so the classes must still agree case by
case: an exception in oslo must be an explained denial in ringnova and nothing else.

Usage: gen_and_compare.py RINGNOVA_BINARY
Environment: POLICY_DIFF_SEED (default: random, printed), POLICY_DIFF_CASES (12000).
"""

import json
import logging
import os
import random
import subprocess
import sys
import time

from oslo_config import cfg
from oslo_policy import _checks, _parser, policy

logging.disable(logging.CRITICAL)


# Nova's nova/policy.py registers this check for the kind ``is_admin``.
@policy.register('is_admin')
class IsAdminCheck(policy.Check):
    def __init__(self, kind, match):
        self.expected = match.lower() == 'true'
        super().__init__(kind, str(self.expected))

    def __call__(self, target, creds, enforcer, current_rule=None):
        return creds['is_admin'] == self.expected


NAMES = ['r0', 'r1', 'r2', 'r3']
ROLES = ['admin', 'Admin', 'member', 'MEMBER', 'Member', 'reader', 'x', 'é', 'Σ']
MATCHES = [
    'p1', 'p2', 'u1', 'None', 'True', 'False', '1', '2', '-1', 'x', 'v', 'z', 'text',
    'member', 'Member', 'admin', "['s']", '[1, 2]', "{'c': '1'}", '',
    '%(project_id)s', '%(user_id)s', '%(missing)s', '%(k)s', '%(k)s%(j)s', 'p%(n)s',
    '%(role)s', '%%(k)s', '%(k)s-x',
]
KINDS = [
    'project_id', 'user_id', 'roles', 'domain_id', 'user_domain_id', 'project_domain_id',
    'system_scope', 'a', 'a.b', 'a.b.c', 'lst', 'lst.k', 'lst.k.z', 'nested.x.y',
    'nested.x', 'roles.x', 'missing', 'missing.x', 'flag', 'num',
]
LITERALS = [
    'True', 'False', 'None', "'p1'", '"p1"', "'x'", '"True"', '1', '0', '-1', '2',
    '1.5', "'a b'", '[1, 2]', '()',
]
BROKEN = ['(', ')', 'and', 'or', 'not', 'role:a role:b', "'quoted'", '((role:a)',
          'role:a)', 'not not', 'and role:a', '"', 'x y:z']


def atom(rng):
    kind = rng.random()
    if kind < 0.07:
        return rng.choice(['@', '!'])
    if kind < 0.25:
        role = rng.choice(ROLES + ['%(role)s', '%(missing)s'])
        return rng.choice(['role', 'role', 'ROLE', 'Role']) + ':' + role
    if kind < 0.40:
        return 'rule:' + rng.choice(NAMES + ['default', 'missing'])
    if kind < 0.70:
        return rng.choice(KINDS) + ':' + rng.choice(MATCHES)
    if kind < 0.80:
        return rng.choice(LITERALS) + ':' + rng.choice(MATCHES)
    if kind < 0.88:
        return 'is_admin:' + rng.choice(['True', 'true', 'False', 'yes', '1', 'TRUE'])
    if kind < 0.90:
        return rng.choice(['nocolon', 'role', 'Rule'])
    if kind < 0.91:
        return 'http://127.0.0.1:9/%(project_id)s'
    if kind < 0.93:
        return rng.choice(['n:%(n)d', 'k:%(k', 'k:%', 'k:%(k)s%'])
    return rng.choice(KINDS) + ':' + rng.choice(MATCHES)


def expr(rng, depth):
    if depth == 0 or rng.random() < 0.3:
        return atom(rng)
    op = rng.random()
    if op < 0.2:
        text = rng.choice(['not', 'NOT', 'Not']) + ' ' + expr(rng, depth - 1)
    else:
        word = rng.choice(['and', 'AND', 'And'] if op < 0.6 else ['or', 'OR', 'oR'])
        parts = [expr(rng, depth - 1) for _ in range(rng.randint(2, 3))]
        text = (' %s ' % word).join(parts)
    if rng.random() < 0.5:
        text = '(' + text + ')' if rng.random() < 0.5 else '( ' + text + ' )'
    return text


def expression(rng):
    roll = rng.random()
    if roll < 0.03:
        return ''
    if roll < 0.08:
        return rng.choice(BROKEN)
    text = expr(rng, rng.randint(0, 4))
    if roll < 0.14:
        # Unbalanced or stray parentheses and operators.
        tokens = text.split(' ')
        at = rng.randrange(len(tokens) + 1)
        tokens.insert(at, rng.choice(['(', ')', 'and', 'or', 'not', '((', '))']))
        text = ' '.join(tokens)
    return text


def creds(rng):
    c = {
        'user_id': rng.choice(['u1', 'u2', None]),
        'project_id': rng.choice(['p1', 'p2', None]),
        'system_scope': rng.choice([None, None, 'all']),
        'domain_id': rng.choice([None, None, 'd1']),
        'user_domain_id': rng.choice(['default', None]),
        'project_domain_id': rng.choice(['default', None]),
        'roles': rng.sample(ROLES, rng.randint(0, 3)),
        'is_admin': rng.random() < 0.3,
    }
    if rng.random() < 0.7:
        c['a'] = {'b': rng.choice(['1', 1, [1, 2], {'c': '1'}, 'text', None, True, [], ['x', 'v']])}
    if rng.random() < 0.5:
        c['lst'] = rng.choice([[{'k': 'v'}, {'k': 'w'}], ['s'], [], [{'k': {'z': '1'}}], [['v']]])
    if rng.random() < 0.5:
        c['nested'] = {'x': rng.choice([{'y': 'z'}, {'y': ['z', 'p1']}, 'text', {}])}
    if rng.random() < 0.3:
        c['flag'] = rng.choice([True, False, None])
    if rng.random() < 0.3:
        c['num'] = rng.choice([1, 2, -1, 0])
    return c


def target(rng):
    t = {}
    for key, values in [
        ('project_id', ['p1', 'p2']),
        ('user_id', ['u1', 'u2']),
        ('role', ['member', 'ADMIN', 'x', 'Σ']),
        ('k', ['x', 'v', 'p', '1', 1]),
        ('j', ['1', 'x']),
        # ringnova's targets hold text (Nova's are ids); `%(n)d` of text raises.
        ('n', ['1', '2']),
    ]:
        if rng.random() < 0.75:
            t[key] = rng.choice(values)
    return t


def case(rng):
    rules = {}
    for name in rng.sample(NAMES, rng.randint(0, 4)):
        rules[name] = expression(rng)
    if rng.random() < 0.4:
        rules['default'] = expression(rng)
    c = {'rule': expression(rng), 'rules': rules, 'creds': creds(rng), 'target': target(rng)}
    if rng.random() < 0.1:
        c['default_rule'] = None
    return c


def oslo_answer(enforcer, c):
    # set_rules() takes the enforcer's default rule (the conf's policy_default_rule).
    enforcer.default_rule = c.get('default_rule', 'default')
    enforcer.set_rules(policy.Rules.from_dict(c['rules'], enforcer.default_rule), overwrite=True,
                       use_conf=False)
    check = _parser.parse_rule(c['rule'])
    try:
        return 'allowed' if enforcer.enforce(check, c['target'], c['creds']) else 'denied'
    except RecursionError:
        return 'error'
    except Exception:  # noqa: BLE001 - any exception is the reference's answer
        return 'error'


def ringnova_class(answer):
    if answer in ('allowed', 'denied'):
        return answer
    if answer.startswith('denied ('):
        return 'error'
    return 'unexpected: ' + answer


def main():
    binary = sys.argv[1]
    seed = int(os.environ.get('POLICY_DIFF_SEED') or random.SystemRandom().randrange(1 << 32))
    count = int(os.environ.get('POLICY_DIFF_CASES') or 12000)
    print('policy diff: seed %d (rerun with POLICY_DIFF_SEED=%d), %d cases' % (seed, seed, count))
    rng = random.Random(seed)
    cases = [case(rng) for _ in range(count)]

    # Serialized before oslo runs: its enforce() adds keys to the creds dicts.
    batch = ''.join(json.dumps(c) + '\n' for c in cases)
    conf = cfg.ConfigOpts()
    conf([], project='policy_diff')
    enforcer = policy.Enforcer(conf, use_conf=False)
    started = time.monotonic()
    reference = [oslo_answer(enforcer, c) for c in cases]
    oslo_seconds = time.monotonic() - started

    started = time.monotonic()
    result = subprocess.run(
        [binary, 'policy', 'check', '--batch', '--explain', '--no-defaults'],
        input=batch.encode(), capture_output=True, timeout=120)
    ringnova_seconds = time.monotonic() - started
    answers = result.stdout.decode().splitlines()
    if result.returncode != 0 or len(answers) != len(cases):
        print('ringnova policy check --batch failed (status %d, %d answers for %d cases):\n%s'
              % (result.returncode, len(answers), len(cases), result.stderr.decode()[-2000:]))
        for line in answers:
            if line.startswith('error'):
                print(line)
                break
        return 1

    mismatches = []
    cases = [json.loads(line) for line in batch.splitlines()]
    for c, expected, got in zip(cases, reference, answers):
        if ringnova_class(got) != expected:
            mismatches.append((c, expected, got))
    for c, expected, got in mismatches[:20]:
        print('MISMATCH oslo=%s ringnova=%s\n  %s' % (expected, got, json.dumps(c, ensure_ascii=False)))
    kinds = {}
    for answer in reference:
        kinds[answer] = kinds.get(answer, 0) + 1
    print('reference answers: %s; oslo %.1f s, ringnova %.2f s (%.0f cases/s)'
          % (', '.join('%s %d' % kv for kv in sorted(kinds.items())), oslo_seconds,
             ringnova_seconds, count / max(ringnova_seconds, 1e-9)))
    print('%d cases, %d mismatches' % (count, len(mismatches)))
    return 1 if mismatches else 0


if __name__ == '__main__':
    sys.exit(main())
