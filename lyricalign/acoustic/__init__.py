"""Acoustic models: pocketsphinx model files, the MFCC front end, ONNX senone scoring."""
