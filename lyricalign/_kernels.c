/* lyricalign's compiled kernels: the loops of the hmm engine that numpy cannot vectorise.
 *
 * Plain C over C-contiguous arrays, called through ctypes (lyricalign/native.py, which documents the
 * arguments and checks them). ctypes releases the GIL during each call, so these run beside ONNX
 * Runtime's scoring. Each kernel has a numba twin in the Python module that calls it (the fallback
 * when this library is not built, and the tests' reference): same loops, same operation order, so the
 * Viterbi kernels agree bit for bit. Built by setup.py with -ffp-contract=off: no fused multiply-adds,
 * which would change the front end's and the statistics' rounding.
 *
 * The module is also a (method-less) Python extension so that the build and the install place it like
 * any other compiled module: python imports it to find its path, ctypes loads it.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
#define LA_EXPORT __declspec(dllexport)
#else
#define LA_EXPORT __attribute__((visibility("default")))
#endif

/* The hot loops get an AVX2 clone where the compiler and the C library support it (picked at load time
 * by the CPU; the default clone is plain x86-64). Elsewhere: one portable version. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LA_HOT __attribute__((target_clones("avx2", "default")))
#else
#define LA_HOT
#endif

#define LA_ABI_VERSION 2

LA_EXPORT int la_abi_version(void) { return LA_ABI_VERSION; }

/* ---- exact Viterbi over a left-to-right graph with jumps (lyricalign/align/hmm_viterbi.py) ---- */

/* Advance d (n + 1 doubles: d[0] = -inf sentinel, d[s + 1] = state s) over n_frames rows of scores
 * (n_frames x n_cols float32). Per frame: stay (self_logp) or advance (next_logp) for every state, then
 * the jump targets' incoming jumps, then the emissions. With record, writes one bit per state
 * ("advanced") to advanced[t * adv_stride ...] and a 4-bit jump choice per jump target (two per byte) to
 * jumped[t * jump_stride ...] (rows zeroed by the caller). Returns 0, or -1 when out of memory. */
LA_EXPORT LA_HOT int la_viterbi_forward(double *d, const float *scores, int64_t n_frames, int64_t n_cols,
                                        double scale, const int32_t *emission, const double *self_logp,
                                        const double *next_logp, int64_t n, const int32_t *jump_start,
                                        const int32_t *jump_source, const double *jump_logp,
                                        const int64_t *jump_targets, int64_t n_targets, uint8_t *advanced,
                                        int64_t adv_stride, uint8_t *jumped, int64_t jump_stride, int first,
                                        int record) {
    double *new_d = malloc((size_t)(n + 1) * sizeof(double));
    uint8_t *moved = calloc((size_t)(n + 8), 1);
    if (new_d == NULL || moved == NULL) {
        free(new_d);
        free(moved);
        return -1;
    }
    new_d[0] = -INFINITY;
    d[0] = -INFINITY; /* the sentinel: state 0 has no state before it */
    for (int64_t t = 0; t < n_frames; t++) {
        const float *sc = scores + t * n_cols;
        if (first && t == 0) { /* d holds the initial log-probabilities */
            for (int64_t s = 0; s < n; s++) d[s + 1] = d[s + 1] + scale * (double)sc[emission[s]];
            continue;
        }
        for (int64_t s = 0; s < n; s++) {
            double stay = d[s + 1] + self_logp[s];
            double advance = d[s] + next_logp[s];
            int better = advance > stay;
            new_d[s + 1] = better ? advance : stay;
            moved[s] = (uint8_t)better;
        }
        for (int64_t m = 0; m < n_targets; m++) {
            int64_t s = jump_targets[m];
            double best = new_d[s + 1];
            int arg = 0;
            for (int32_t a = jump_start[s]; a < jump_start[s + 1]; a++) {
                double v = d[jump_source[a] + 1] + jump_logp[a];
                if (v > best) {
                    best = v;
                    arg = a - jump_start[s] + 1;
                }
            }
            new_d[s + 1] = best;
            if (record) jumped[t * jump_stride + (m >> 1)] |= (uint8_t)(arg << (4 * (m & 1)));
        }
        if (record) {
            uint8_t *bits = advanced + t * adv_stride;
            for (int64_t j = 0; j < adv_stride; j++) {
                const uint8_t *k = moved + 8 * j;
                bits[j] = (uint8_t)(k[0] | (k[1] << 1) | (k[2] << 2) | (k[3] << 3) | (k[4] << 4) | (k[5] << 5)
                                    | (k[6] << 6) | (k[7] << 7));
            }
        }
        for (int64_t s = 0; s < n; s++) d[s + 1] = new_d[s + 1] + scale * (double)sc[emission[s]];
    }
    free(new_d);
    free(moved);
    return 0;
}

/* The state of every frame, from the last frame's state back through the packed back-pointers of a
 * graph of n states. Returns 0, or -1 when the back-pointers lead outside the graph (they were not
 * written by la_viterbi_forward for this graph). */
LA_EXPORT int la_viterbi_backtrace(const uint8_t *advanced, int64_t n_frames, int64_t adv_stride,
                                   const uint8_t *jumped, int64_t jump_stride, const int64_t *jump_slot,
                                   const int32_t *jump_start, const int32_t *jump_source, int64_t n, int64_t last,
                                   int32_t *states) {
    int64_t s = last;
    for (int64_t t = n_frames - 1; t >= 0; t--) {
        if (s < 0 || s >= n) return -1;
        states[t] = (int32_t)s;
        if (t == 0) break;
        int64_t m = jump_slot[s];
        int arg = m >= 0 ? (jumped[t * jump_stride + (m >> 1)] >> (4 * (m & 1))) & 15 : 0;
        if (arg) {
            if (arg > jump_start[s + 1] - jump_start[s]) return -1;
            s = jump_source[jump_start[s] + arg - 1];
        } else if ((advanced[t * adv_stride + (s >> 3)] >> (s & 7)) & 1) {
            s = s - 1;
        }
    }
    return 0;
}

/* ---- the free phone loop's Viterbi score (lyricalign/align/forward.py) ---- */

/* Advance delta (n_phones x n_states) over n_frames rows of scores. columns (n_phones x n_states) are
 * the score columns, tmat (n_phones x n_states x (n_states + 1)) the log transitions (last column: exit).
 * Returns 0, or -1 when out of memory. */
LA_EXPORT LA_HOT int la_loop_forward(double *delta, const float *scores, int64_t n_frames, int64_t n_cols,
                                     double scale, const int64_t *columns, int64_t n_phones, int64_t n_states,
                                     const double *tmat, double entry, int first) {
    const int64_t e1 = n_states + 1;
    double *new_delta = malloc((size_t)(n_phones * n_states) * sizeof(double));
    if (new_delta == NULL) return -1;
    for (int64_t t = 0; t < n_frames; t++) {
        const float *sc = scores + t * n_cols;
        if (first && t == 0) {
            for (int64_t p = 0; p < n_phones; p++)
                for (int64_t j = 0; j < n_states; j++)
                    delta[p * n_states + j] = (j == 0 ? entry : -INFINITY) + scale * (double)sc[columns[p * n_states + j]];
            continue;
        }
        double best_exit = -INFINITY;
        for (int64_t p = 0; p < n_phones; p++)
            for (int64_t i = 0; i < n_states; i++) {
                double v = delta[p * n_states + i] + tmat[(p * n_states + i) * e1 + n_states];
                if (v > best_exit) best_exit = v;
            }
        for (int64_t p = 0; p < n_phones; p++)
            for (int64_t j = 0; j < n_states; j++) {
                double best = j == 0 ? best_exit + entry : -INFINITY;
                for (int64_t i = 0; i <= j; i++) {
                    double v = delta[p * n_states + i] + tmat[(p * n_states + i) * e1 + j];
                    if (v > best) best = v;
                }
                new_delta[p * n_states + j] = best;
            }
        for (int64_t p = 0; p < n_phones; p++)
            for (int64_t j = 0; j < n_states; j++)
                delta[p * n_states + j] = new_delta[p * n_states + j] + scale * (double)sc[columns[p * n_states + j]];
    }
    free(new_delta);
    return 0;
}

/* ---- the front end's noise-removal trackers (lyricalign/acoustic/noise_removal.py) ---- */

static double envelope(double level, double x, double rise, double fall) {
    if (x >= level) return rise * level + (1.0 - rise) * x;
    return fall * level + (1.0 - fall) * x;
}

/* fe_noise.c's recurrences over n frames x width filters of mel (row-major). power, noise, floor_, peak
 * (width,) hold the states before the first frame and are updated to those after the last; per frame,
 * out_power, out_signal, out_floor and out_decayed (n x width) receive the smoothed power, the signal,
 * its floor and the decayed masking peak. */
LA_EXPORT void la_noise_track(const double *mel, int64_t n, int64_t width, double lambda_power, double lambda_a,
                              double lambda_b, double lambda_t, double *power, double *noise, double *floor_,
                              double *peak, double *out_power, double *out_signal, double *out_floor,
                              double *out_decayed) {
    for (int64_t t = 0; t < n; t++) {
        for (int64_t f = 0; f < width; f++) {
            double p = lambda_power * power[f] + (1.0 - lambda_power) * mel[t * width + f];
            noise[f] = envelope(noise[f], p, lambda_a, lambda_b);
            double diff = p - noise[f];
            double s = 1.0 > diff ? 1.0 : diff; /* Python's max(diff, 1.0), NaN included */
            floor_[f] = envelope(floor_[f], s, lambda_a, lambda_b);
            double decayed = peak[f] * lambda_t;
            out_decayed[t * width + f] = decayed;
            peak[f] = s > decayed ? s : decayed; /* max(decayed, s) */
            power[f] = p;
            out_power[t * width + f] = p;
            out_signal[t * width + f] = s;
            out_floor[t * width + f] = floor_[f];
        }
    }
}

/* ---- the mixtures along a state path (lyricalign/acoustic/path_kernel.py) ---- */

/* For frame t (x: n_frames x n_streams x dim) under senone senones[t] of codebook books[t]: its
 * log-likelihood (summed over streams) into log_likelihood[t], and with statistics each Gaussian's
 * posterior added to count (C x K x G) and posterior x frame to total (C x K x G x d). mu, precision:
 * (C x K x G x d); log_norm: (C x K x G); log_weights: (n_senones x K x G). Returns 0, or -1 when out of
 * memory. */
LA_EXPORT LA_HOT int la_path_mixtures(const double *x, int64_t n_frames, int64_t n_streams, int64_t dim,
                                      const int64_t *books, const int64_t *senones, const double *mu,
                                      const double *precision, const double *log_norm, const double *log_weights,
                                      int64_t n_dens, int statistics, double *log_likelihood, double *count,
                                      double *total) {
    double *terms = malloc((size_t)n_dens * sizeof(double));
    if (terms == NULL) return -1;
    for (int64_t t = 0; t < n_frames; t++) {
        int64_t book = books[t], senone = senones[t];
        double frame_total = 0.0;
        for (int64_t k = 0; k < n_streams; k++) {
            const double *xt = x + (t * n_streams + k) * dim;
            const int64_t gauss0 = (book * n_streams + k) * n_dens; /* first Gaussian of (book, k) */
            const double *lw = log_weights + (senone * n_streams + k) * n_dens;
            double peak = -INFINITY;
            for (int64_t g = 0; g < n_dens; g++) {
                const double *m = mu + (gauss0 + g) * dim, *pr = precision + (gauss0 + g) * dim;
                double distance = 0.0;
                for (int64_t j = 0; j < dim; j++) {
                    double diff = xt[j] - m[j];
                    distance += diff * diff * pr[j];
                }
                double value = log_norm[gauss0 + g] - 0.5 * distance + lw[g];
                terms[g] = value;
                if (value > peak) peak = value;
            }
            double mass = 0.0;
            for (int64_t g = 0; g < n_dens; g++) {
                terms[g] = exp(terms[g] - peak);
                mass += terms[g];
            }
            frame_total += peak + log(mass);
            if (statistics) {
                for (int64_t g = 0; g < n_dens; g++) {
                    double posterior = terms[g] / mass;
                    count[gauss0 + g] += posterior;
                    double *tot = total + (gauss0 + g) * dim;
                    for (int64_t j = 0; j < dim; j++) tot[j] += posterior * xt[j];
                }
            }
        }
        log_likelihood[t] = frame_total;
    }
    free(terms);
    return 0;
}

/* ---- Sphinx's s3 file checksum (lyricalign/acoustic/s3_checksum.py) ---- */

LA_EXPORT uint32_t la_s3_checksum(const uint32_t *words, int64_t n) {
    uint32_t total = 0;
    for (int64_t i = 0; i < n; i++) total = ((total << 20) | (total >> 12)) + words[i];
    return total;
}

/* ---- the (empty) Python module ---- */

static struct PyModuleDef kernels_module = {PyModuleDef_HEAD_INIT, "_kernels",
                                            "lyricalign's compiled kernels (loaded with ctypes by lyricalign.native)",
                                            -1, NULL};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&kernels_module); }
