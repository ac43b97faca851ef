"""Trying a registered model locally: an online prediction server speaking Vertex's custom
container contract (`vtp models serve`) and batch predictions written in the layout of a
Vertex batch prediction job (`vtp models predict`).

Both run the Vertex AI SDK's own predictors and model server (its Custom Prediction Routines,
`google.cloud.aiplatform.prediction`), the code Google ships for that contract, with vtp's
checks of the instances in front so a bad instance gets a 400 naming it.
"""
