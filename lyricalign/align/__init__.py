"""Forced alignment: decoding graphs and the Viterbi kernels."""
