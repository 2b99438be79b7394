// Package dpml trains and evaluates the models that leave a room: an
// ε-differentially private L2-regularised logistic regression (the
// look-alike and joint credit-risk models) and a zCDP evaluation of its
// scores released as a noisy histogram over public score bins.
//
// # Training
//
// Train implements objective perturbation, Algorithm 2 of Chaudhuri,
// Monteleoni and Sarwate, "Differentially Private Empirical Risk
// Minimization" (JMLR 12, 2011), with the logistic loss (c = 1/4, their
// Corollary 11) and the regulariser Λ‖w‖²/2. It returns the exact
// minimiser, up to Config.Tolerance, of
//
//	J(w) = (1/n)·Σ log(1 + exp(−yᵢ·wᵀxᵢ)) + (Λ/2)‖w‖² + (1/n)·bᵀw + (Δ/2)‖w‖²
//
// with labels yᵢ ∈ {−1, +1} and a random vector b whose density is
// proportional to exp(−ε′‖b‖/2). The release is ε-DP, which the budget
// ledger counts as ρ = ε²/2 zCDP (Bun and Steinke, "Concentrated
// Differential Privacy", TCC 2016, Proposition 1.4); Config.Loss gives the
// amount before any data is read, so the ledger can reserve it first.
//
// The guarantee needs, and Train checks, that every feature row has L2
// norm at most 1 (with the intercept's constant feature, see
// Config.InterceptFeature) and every label is 0 or 1. Rows outside the
// ball are refused, not silently clipped: callers clip each row with Clip
// first. Clipping one row looks at no other row, so datasets that differ
// in one person still differ in one row after it, and the analysis holds.
// Any data-dependent preprocessing — scaling by the largest norm in the
// data, standardising with the data's own means or deviations — is not
// covered and breaks the guarantee unless its statistics are public or
// released with DP and charged.
//
// # Evaluating
//
// Evaluate releases, under ρ-zCDP with the discrete Gaussian counts of
// package dp, how many people with each label fall in each of a fixed
// number of equal-width score bins of [0, 1]. Each person is in exactly
// one cell, so the whole histogram costs ρ once. AUC, the KS statistic,
// default rates and totals are computed from the released cells only, so
// they cost nothing more. No data-derived quantile is ever used.
//
// # What the guarantees assume
//
//   - One row is one person; the analysis is for datasets of the same size
//     n that differ in one person's row, so n itself is treated as public
//     (it scales the objective). Release it separately, with DP, if it is
//     not.
//   - The minimiser is exact. The solver stops within Config.Tolerance of
//     it; the theorem does not cover that gap, which is far below the
//     noise but not zero (Iyengar, Near, Song, Thakkar, Thakurta and Wang,
//     "Towards Practical Differentially Private Convex Optimization",
//     IEEE S&P 2019, show how extra noise closes it; this package does not
//     add it).
//   - Real arithmetic. b is drawn from exact samplers (see Train) but then
//     becomes float64, and the solver computes in float64. Floating-point
//     noise can leak through its low bits when it is added to a value
//     (Mironov, CCS 2012); here it enters a convex program whose output is
//     a non-linear function of it, no such attack is known, but no proof
//     covers the rounding either.
//   - Training and evaluation take time that depends on the data and the
//     noise; run their release paths behind dp.PadTo.
package dpml
