"""The MLflow adapter: one module per thing the MLflow UI shows (searches, trials, drift checks,
the registry and its audit trail) and the champion's files, behind one ``Store`` handle
(flows/store/handle.py): what works on the project takes the Store, what is given a run id keeps
a bare client."""
