import re

import numpy as np

from bench.generate import Spec, member_column, part_arrays
from selection.names import DEFAULT_MEMBER_PREFIX, MEMBER_CLASS_INFIX


def test_a_committee_set_holds_noisy_members_of_the_same_rows_and_no_prob_class():
    plain, committee = Spec(3000, 4, 3), Spec(3000, 4, 3, members=5)
    pattern = re.escape(DEFAULT_MEMBER_PREFIX) + r"\d+" + re.escape(MEMBER_CLASS_INFIX) + r"\d+"
    scores = committee.columns()[2 + 4 :]
    assert len(scores) == 15 and all(re.fullmatch(pattern, c) for c in scores)
    assert not any(c.startswith("prob_class_") for c in committee.columns())
    a, b = part_arrays(plain, 1), part_arrays(committee, 1)
    assert list(b) == committee.columns()
    for c in ["id", "label", *[f"emb_{j}" for j in range(4)]]:
        np.testing.assert_array_equal(a[c], b[c])
    members = np.stack(
        [np.column_stack([b[member_column(m, c)] for c in range(3)]) for m in range(5)]
    )
    np.testing.assert_allclose(members.sum(axis=2), 1.0, atol=1e-12)
    truth = np.column_stack([a[f"prob_class_{c}"] for c in range(3)])
    # Plausible members: near the true posterior, but not copies of it or of each other.
    assert 0.005 < np.abs(members - truth).mean() < 0.1
    assert np.abs(members[0] - members[1]).max() > 0.01
