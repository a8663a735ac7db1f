using SeaLion.Model.Llama;

namespace SeaLion.Model.Tests;

/// <summary>The judgement shared by the llama.cpp oracle tests and `check-cuda`, on hand-made logit rows.</summary>
public sealed class TeacherForcedTests
{
    // Prompt of 2 tokens, 2 generated: rows at positions 1 and 2 judge the generated tokens; 4 rows, vocabulary 4.
    static float[][] Reference() => [[0, 0, 0, 0], [5, 1, 0, 0], [0, 0, 7, 6.995f], [1, 2, 3, 4]];

    [Fact]
    public void Identical_rows_and_argmax_tokens_pass()
    {
        var r = TeacherForced.Compare(Reference(), [0, 2], Reference(), 2, GreedyCriteria.SamePrecision());
        Assert.True(r.Passed, string.Join("; ", r.Failures));
        Assert.Equal((2, 2, 0.0), (r.ExactArgmax, r.WithinSlack, r.MaxAbsDiff));
    }

    [Fact]
    public void A_near_tie_passes_and_a_clear_loser_fails()
    {
        // Token 3 at position 2 is 0.005 below the reference's best: a tie within 0.01.
        var tie = TeacherForced.Compare(Reference(), [0, 3], Reference(), 2, GreedyCriteria.SamePrecision());
        Assert.True(tie.Passed, string.Join("; ", tie.Failures));
        Assert.Equal((1, 2), (tie.ExactArgmax, tie.WithinSlack));
        // Token 1 at position 1 is 4 below: a disagreement, named in the failure.
        var wrong = TeacherForced.Compare(Reference(), [1, 2], Reference(), 2, GreedyCriteria.SamePrecision());
        Assert.False(wrong.Passed);
        Assert.Contains("generated token 0 (position 1)", wrong.Failures[0]);
    }

    [Fact]
    public void Logits_beyond_the_relative_tolerance_fail_and_within_it_pass()
    {
        var moved = Reference();
        moved[3][0] += 0.01f;   // 0.01 / row scale 4 = 2.5e-3
        Assert.False(TeacherForced.Compare(moved, [0, 2], Reference(), 2, GreedyCriteria.SamePrecision(1e-3)).Passed);
        var r = TeacherForced.Compare(moved, [0, 2], Reference(), 2, GreedyCriteria.SamePrecision(1e-2));
        Assert.True(r.Passed, string.Join("; ", r.Failures));
        Assert.Equal(0.0025, r.MaxRelativeDiff, 6);
        Assert.Equal(3, r.WorstPosition);
    }

    [Fact]
    public void Lower_precision_needs_two_thirds_exact_and_an_rms_difference_within_the_yardstick()
    {
        // Both tokens within bf16's slack but only 1 of 2 exact: below 2/3.
        var r = TeacherForced.Compare(Reference(), [0, 3], Reference(), 2, GreedyCriteria.LowerPrecisionThan(1.0));
        Assert.False(r.Passed);
        Assert.Contains("exact greedy choice at only 1/2", r.Failures.Single());
        // Every logit moved by 0.5: rms 0.5, within 4 x a yardstick of 0.2 (0.8), beyond 4 x 0.1 (0.4).
        var moved = Reference().Select(row => row.Select(x => x + 0.5f).ToArray()).ToArray();
        Assert.True(TeacherForced.Compare(moved, [0, 2], Reference(), 2, GreedyCriteria.LowerPrecisionThan(0.2)).Passed);
        var far = TeacherForced.Compare(moved, [0, 2], Reference(), 2, GreedyCriteria.LowerPrecisionThan(0.1));
        Assert.Contains("rms over all positions", far.Failures.Single());
    }
}
