//! A seeded pseudo-random generator for tests, soaks and benchmarks: not for anything
//! that needs real randomness, only for schedules and workloads that must replay
//! exactly from a printed seed.

/// xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift
/// generators, scrambled"): 64 bits of state, every seed valid, the same sequence for
/// a seed on every platform.
///
/// ```
/// use test_support::Rng;
///
/// let mut a = Rng::new(7);
/// let mut b = Rng::new(7);
/// let draws: Vec<u64> = (0..4).map(|_| a.below(10)).collect();
/// assert_eq!(draws, (0..4).map(|_| b.below(10)).collect::<Vec<_>>());
/// assert!(draws.iter().all(|&d| d < 10));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`. Seeds are spread by a multiplication, so neighbouring
    /// seeds (0, 1, 2, ...: a test's loop counter) start far apart; the state is never
    /// zero, the one state xorshift cannot leave.
    pub const fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 pseudo-random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A draw in `0..n` (a slight modulo bias, which no test here can notice).
    ///
    /// # Panics
    ///
    /// If `n` is zero.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "Rng::below(0): an empty range");
        self.next_u64() % n
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn a_seed_replays_and_seeds_differ() {
        let run = |seed| {
            let mut rng = Rng::new(seed);
            (0..64).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(run(3), run(3));
        assert_ne!(run(3), run(4));
        assert_ne!(
            run(0),
            vec![0; 64],
            "seed 0 is not the stuck all-zero state"
        );
    }

    #[test]
    fn below_covers_its_range_and_stays_in_it() {
        let mut rng = Rng::new(1);
        let mut seen = [0_u32; 10];
        for _ in 0..10_000 {
            seen[rng.below(10) as usize] += 1;
        }
        // Each bucket expects 1,000; a generator stuck on a few values fails this.
        assert!(seen.iter().all(|&n| (800..1_200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn chance_is_about_its_percentage() {
        let mut rng = Rng::new(2);
        let hits = (0..10_000).filter(|_| rng.chance(30)).count();
        assert!((2_700..3_300).contains(&hits), "{hits} in 10,000 at 30%");
        assert!(!(0..1_000).any(|_| rng.chance(0)));
        assert!((0..1_000).all(|_| rng.chance(100)));
    }
}
