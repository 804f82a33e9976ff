"""Arena: FastAPI app with blind battles, pair sampler, identity guard, vote integrity and pages."""
