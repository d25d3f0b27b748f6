"""The replaced packages' surfaces, one package each: views, their reading of the checks, URLs."""
