"""ONNX Runtime GenAI: text and vision paths sharing search options."""
