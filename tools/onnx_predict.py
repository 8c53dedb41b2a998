#!/usr/bin/env python3
"""Runs a model that `lanmsff export` wrote, without lanmsff: OpenCV's dnn module (Debian python3-opencv)
reads the ONNX file and predicts the class probabilities of images, preprocessed as the tool does
(gray or RGB as the model's input has 1 or 3 channels, resized to its size, values / 255).

Usage: /usr/bin/python3 tools/onnx_predict.py MODEL.onnx IMAGE... [--classes NAME,NAME,...]
The class names default to those `lanmsff export` stored in the model's doc string, else 0, 1, ...
docs/deployment.md shows it beside ONNX Runtime.
"""
import argparse
import json
import sys

import cv2
import numpy as np


def model_facts(path):
    """(channels, height, width, class names or None) from the ONNX file: its input's shape, its doc string."""
    try:
        import onnx  # python3-onnx: only to read the input's shape and the class names
    except ImportError:
        sys.exit("onnx_predict: needs python3-onnx to read the model's input shape")
    model = onnx.load(path)
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    names = None
    for line in model.graph.doc_string.splitlines():
        if line.startswith("classes: "):
            names = json.loads(line[len("classes: "):])
    return dims[1], dims[2], dims[3], names


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("images", nargs="+")
    parser.add_argument("--classes", help="comma-separated class names")
    args = parser.parse_args()
    channels, height, width, names = model_facts(args.model)
    if args.classes:
        names = args.classes.split(",")
    net = cv2.dnn.readNetFromONNX(args.model)
    status = 0
    for path in args.images:
        image = cv2.imread(path, cv2.IMREAD_COLOR)  # gray files come replicated into B, G, R
        if image is None:
            print(f"onnx_predict: {path}: not an image OpenCV can read", file=sys.stderr)
            status = 1
            continue
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
        if channels == 1:  # BT.601 luma rounded to a level, as the tool converts colour files
            rgb = image.astype(np.float32)
            luma = np.float32(0.299) * rgb[..., 0] + np.float32(0.587) * rgb[..., 1] + np.float32(0.114) * rgb[..., 2]
            image = np.clip(np.floor(luma + np.float32(0.5)), 0, 255)
        # To [0, 1] first, then resized in float, as the tool does (resizing the bytes would round).
        x = image.astype(np.float32) * np.float32(1.0 / 255.0)
        if x.shape[:2] != (height, width):
            x = cv2.resize(x, (width, height), interpolation=cv2.INTER_LINEAR)
        x = x.reshape(height, width, channels)
        net.setInput(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))
        probabilities = net.forward("probabilities")[0]
        labels = names if names and len(names) == len(probabilities) else [str(k) for k in range(len(probabilities))]
        best = int(np.argmax(probabilities))
        print(f"{path}: {labels[best]}")
        for label, p in zip(labels, probabilities):
            print(f"  {label:<14}{p:.4f}")
    return status


if __name__ == "__main__":
    sys.exit(main())
