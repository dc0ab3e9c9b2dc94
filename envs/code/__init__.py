"""Code output prediction: short Python functions whose value the student predicts."""
