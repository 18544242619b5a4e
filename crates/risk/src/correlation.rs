//! The declared correlation matrix between underlyings.

use crate::math::{add, div, mul, sub};
use crate::{RiskError, I80F48, MAX_UNDERLYINGS};

/// Eigenvalue slack τ = 2^-30 ≈ 9.3e-10: a matrix is accepted when ρ + τI is positive definite
/// (so rounding in the input cannot reject a genuinely PSD matrix such as an exactly
/// collinear one), and the engine then uses ρ + τI in `c'ρc`, which is conservative.
pub const CORRELATION_TOLERANCE: I80F48 = I80F48::lit("0.000000000931322574615478515625");

/// A validated n x n correlation matrix (symmetric, unit diagonal, entries in [-1, 1],
/// positive semi-definite), n <= [`MAX_UNDERLYINGS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Correlation {
    n: usize,
    matrix: [[I80F48; MAX_UNDERLYINGS]; MAX_UNDERLYINGS],
}

impl Correlation {
    /// The identity (no offsets between underlyings). `n` is clamped to [`MAX_UNDERLYINGS`].
    pub fn identity(n: usize) -> Self {
        let n = n.min(MAX_UNDERLYINGS);
        let mut matrix = [[I80F48::ZERO; MAX_UNDERLYINGS]; MAX_UNDERLYINGS];
        for (i, row) in matrix.iter_mut().enumerate().take(n) {
            row[i] = I80F48::ONE;
        }
        Correlation { n, matrix }
    }

    /// From `n x n` entries, row-major. Checks, in this order: size (`n` in 1..=8 and
    /// `entries.len() == n²`), unit diagonal (exactly 1), symmetry (exactly equal), range
    /// (|ρ| <= 1), positive semi-definiteness (an LDLᵀ factorisation of ρ + τI with every
    /// pivot > 0; n(n-1)/2 + n divisions).
    pub fn new(n: usize, entries: &[I80F48]) -> Result<Self, RiskError> {
        let corr = Self::checked(n, entries)?;
        corr.check_psd()?;
        Ok(corr)
    }

    /// Like [`Correlation::new`] (size, unit diagonal, symmetry and range are checked) but
    /// without the positive-definiteness factorisation, for a principal submatrix of a matrix
    /// that [`Correlation::new`] has already accepted: a principal submatrix of the positive
    /// definite ρ + τI is itself positive definite, so the check could not fail. The caller
    /// guarantees that provenance (the program stores only matrices that passed `new`); the
    /// factorisation costs n(n-1)/2 + n divisions, about 70,000 compute units at n = 8.
    pub fn from_validated_submatrix(n: usize, entries: &[I80F48]) -> Result<Self, RiskError> {
        Self::checked(n, entries)
    }

    fn checked(n: usize, entries: &[I80F48]) -> Result<Self, RiskError> {
        if n == 0 || n > MAX_UNDERLYINGS || entries.len() != n * n {
            return Err(RiskError::CorrelationSize);
        }
        let mut matrix = [[I80F48::ZERO; MAX_UNDERLYINGS]; MAX_UNDERLYINGS];
        for i in 0..n {
            for j in 0..n {
                matrix[i][j] = entries[i * n + j];
            }
        }
        for (i, row) in matrix.iter().enumerate().take(n) {
            if row[i] != I80F48::ONE {
                return Err(RiskError::CorrelationNotUnitDiagonal);
            }
        }
        for i in 0..n {
            for j in 0..i {
                if matrix[i][j] != matrix[j][i] {
                    return Err(RiskError::CorrelationNotSymmetric);
                }
                if matrix[i][j].saturating_abs() > I80F48::ONE {
                    return Err(RiskError::CorrelationOutOfRange);
                }
            }
        }
        Ok(Correlation { n, matrix })
    }

    /// LDLᵀ of ρ + τI without pivoting: positive definite iff every pivot d_j > 0.
    fn check_psd(&self) -> Result<(), RiskError> {
        let n = self.n;
        let mut l = [[I80F48::ZERO; MAX_UNDERLYINGS]; MAX_UNDERLYINGS];
        let mut d = [I80F48::ZERO; MAX_UNDERLYINGS];
        for j in 0..n {
            let mut pivot = add(self.matrix[j][j], CORRELATION_TOLERANCE)?;
            for k in 0..j {
                pivot = sub(pivot, mul(mul(l[j][k], l[j][k])?, d[k])?)?;
            }
            if pivot <= I80F48::ZERO {
                return Err(RiskError::CorrelationNotPsd);
            }
            d[j] = pivot;
            for i in j + 1..n {
                let mut v = self.matrix[i][j];
                for k in 0..j {
                    v = sub(v, mul(mul(l[i][k], l[j][k])?, d[k])?)?;
                }
                l[i][j] = div(v, pivot)?;
            }
        }
        Ok(())
    }

    /// An upper bound g on the largest eigenvalue of ρ + τI (Gershgorin: the largest absolute
    /// row sum, plus τ); for the identity it is 1 + τ. Rounded up.
    pub fn eigenvalue_bound(&self) -> I80F48 {
        let mut g = I80F48::ZERO;
        for i in 0..self.n {
            let row: I80F48 = self.matrix[i][..self.n]
                .iter()
                .map(|x| x.saturating_abs())
                .fold(I80F48::ZERO, |a, b| a.saturating_add(b));
            g = g.max(row);
        }
        g.saturating_add(CORRELATION_TOLERANCE)
    }

    /// Number of underlyings.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Entry (i, j); 0 outside the matrix.
    pub fn get(&self, i: usize, j: usize) -> I80F48 {
        if i < self.n && j < self.n {
            self.matrix[i][j]
        } else {
            I80F48::ZERO
        }
    }

    /// `x'(ρ + τI)x` for `|x_u| < 2^30`: cannot overflow (n² 2^60 < 2^79). Clamped at 0.
    pub(crate) fn quadratic_form(
        &self,
        x: &[I80F48; MAX_UNDERLYINGS],
    ) -> Result<I80F48, RiskError> {
        let mut q = I80F48::ZERO;
        for i in 0..self.n {
            let mut row = mul(CORRELATION_TOLERANCE, x[i])?;
            for j in 0..self.n {
                row = add(row, mul(self.matrix[i][j], x[j])?)?;
            }
            q = add(q, mul(row, x[i])?)?;
        }
        Ok(q.max(I80F48::ZERO))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn corr(n: usize, v: &[f64]) -> Result<Correlation, RiskError> {
        let e: [I80F48; 81] =
            core::array::from_fn(|i| I80F48::from_num(v.get(i).copied().unwrap_or(0.0)));
        Correlation::new(n, &e[..v.len()])
    }

    #[test]
    fn validation_table() {
        assert!(corr(1, &[1.0]).is_ok());
        assert!(corr(2, &[1.0, 0.8, 0.8, 1.0]).is_ok());
        assert!(
            corr(2, &[1.0, 1.0, 1.0, 1.0]).is_ok(),
            "perfect correlation is PSD"
        );
        assert!(corr(2, &[1.0, -1.0, -1.0, 1.0]).is_ok());
        assert_eq!(
            corr(2, &[1.0, 0.8, 0.7, 1.0]),
            Err(RiskError::CorrelationNotSymmetric)
        );
        assert_eq!(
            corr(2, &[1.0, 0.8, 0.8, 0.9]),
            Err(RiskError::CorrelationNotUnitDiagonal)
        );
        assert_eq!(
            corr(2, &[1.0, 1.2, 1.2, 1.0]),
            Err(RiskError::CorrelationOutOfRange)
        );
        assert_eq!(corr(2, &[1.0, 0.5, 0.5]), Err(RiskError::CorrelationSize));
        assert_eq!(corr(0, &[]), Err(RiskError::CorrelationSize));
        assert_eq!(corr(9, &[0.0; 81]), Err(RiskError::CorrelationSize));
        // Pairwise fine, jointly impossible: eigenvalue 1 - 2 x 0.9 < 0.
        assert_eq!(
            corr(3, &[1.0, -0.9, -0.9, -0.9, 1.0, -0.9, -0.9, -0.9, 1.0]),
            Err(RiskError::CorrelationNotPsd)
        );
        // Rank one (all perfectly correlated) is PSD.
        assert!(corr(3, &[1.0; 9]).is_ok());
        // Smallest eigenvalue -1e-6: rejected.
        let a = 0.5 + 1e-6 / 1.0;
        assert_eq!(
            corr(3, &[1.0, -a, -a, -a, 1.0, -a, -a, -a, 1.0]).map(|_| ()),
            Err(RiskError::CorrelationNotPsd)
        );
    }

    #[test]
    fn identity_and_form() {
        let c = Correlation::identity(3);
        assert_eq!(c.n(), 3);
        assert_eq!(c.get(1, 1), I80F48::ONE);
        assert_eq!(c.get(0, 1), I80F48::ZERO);
        assert_eq!(c.get(5, 5), I80F48::ZERO);
        let c = corr(2, &[1.0, 0.8, 0.8, 1.0]).unwrap();
        let mut x = [I80F48::ZERO; MAX_UNDERLYINGS];
        x[0] = I80F48::from_num(3);
        x[1] = I80F48::from_num(-4);
        // 9 + 16 - 2 x 0.8 x 12 = 5.8, plus τ 25.
        let q = c.quadratic_form(&x).unwrap().to_num::<f64>();
        assert!((q - 5.8).abs() < 1e-7 && q >= 5.8, "{q}");
    }
}
