// Package dp is the privacy core of Cleanroom: the noise samplers, the noisy
// aggregates, partition selection with a hard minimum group size, and the
// privacy accounting that the budget ledger enforces. It uses only the
// standard library.
//
// # Guarantees
//
// The privacy unit is the person. Callers bound each person's contribution
// before data reaches an aggregate: at most L0 groups (Params.MaxGroups),
// at most MaxRowsPerGroup rows per group, and every metric value clamped to
// [Lo, Hi] in fixed-point integers (ToScaled). Under those bounds:
//
//   - Count, Sum and Mean with Mechanism Gaussian add discrete Gaussian
//     noise with σ² = Δ₂²/(2ρ), Δ₂ = √L0·Δ∞, and are ρ-zCDP for the release
//     of all groups together (Canonne, Kamath and Steinke, "The Discrete
//     Gaussian for Differential Privacy", NeurIPS 2020; zCDP is from Bun and
//     Steinke, TCC 2016).
//   - With Mechanism Laplace they add discrete Laplace noise with scale
//     b = L0·Δ∞/ε and are ε-DP, which the ledger counts as ρ = ε²/2.
//   - Δ∞ is MaxRowsPerGroup for counts, MaxRowsPerGroup·max(|Lo|, |Hi|) for
//     sums, and MaxRowsPerGroup·(Hi − Lo) for a mean's centred sum. Sums
//     clamp every value before adding it and add int64s exactly, failing on
//     overflow (Casacuberta, Shoemate, Vadhan and Wagaman, "Widespread
//     Underestimation of Sensitivity in Differentially Private Libraries
//     and How to Fix It", CCS 2022).
//   - Selection releases a group only if its true distinct count n is at
//     least k (default 100), and then with probability p(n) from a test on
//     n − (k − 1) that is (ε/L0, δ/L0)-DP per group and (ε, δ)-DP for the
//     release. p(n) is the optimal keep probability of Desfontaines, Voss,
//     Gipson and Mandayam, "Differentially private partition selection"
//     (PoPETs 2022), available in closed form as KeepProbability.
//   - A Loss composes: ρ terms add (zCDP), selection ε and δ terms add
//     (basic composition), and Loss.EpsilonAt converts the total to (ε, δ)
//     with ε = ρ + 2√(ρ·ln(1/δ)) (Bun and Steinke 2016, Proposition 1.3).
//     Guarantee checks a budget against δ_total ≤ 1/(10·N) for a dataset of
//     N people.
//
// # Noise
//
// All noise comes from Secure: exact samplers (Sampler) over crypto/rand
// that use only integer and rational arithmetic, never floating point,
// whose rounding can leak the value under the noise (Mironov, "On
// Significance of the Least Significant Bits for Differential Privacy",
// CCS 2012). Privacy parameters arrive as float64 but are rounded to exact
// decimal quanta (RhoQuantum, DeltaQuantum) before any noise scale is
// derived from them, so the noise scale is an exact rational and the
// amount charged to the ledger is exactly the amount spent. The samplers'
// running time depends on the noise; release paths run behind PadTo, which
// pads them to a deadline fixed in advance.
//
// ZeroNoise replaces Secure in tests of code that uses this package. It
// releases true values and must never reach a release.
//
// # Using it
//
// A release builds one aggregate per group from the same Params, adds the
// bounded data, and takes each Result once (a second Result returns
// ErrTaken, so no budget is spent twice). With partition selection, each
// group is first passed to Selection.Keep with its true count of distinct
// people, and only kept groups are noised and released. The total Loss is
// the aggregate's Loss plus the Selection's Loss, reserved in the ledger
// before anything is computed. Every release carries a Record (mechanism,
// budget, noise scale, standard deviation and 95 % interval per cell,
// suppressed cells); Preview shows the same before the release runs,
// together with p(n) over a range of group sizes.
package dp
