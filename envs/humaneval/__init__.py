"""HumanEval: code generation graded by running each problem's tests in the sandbox."""
