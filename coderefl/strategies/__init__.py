"""Agent strategies: problem + model + sandbox -> trajectory. One module each."""
