"""Math problems from the user's files (MATH and GSM8K formats), graded by math-verify."""
