"""How tables and job reports name each logged metric, in the order they show them."""

METRICS = {"pesq_wb": "PESQ-WB", "stoi": "STOI", "si_sdr": "SI-SDR", "ssnr": "SSNR", "csig": "CSIG"}
METRICS |= {"cbak": "CBAK", "covl": "COVL", "nr": "NR", "sd": "SD", "nr_db": "NR dB", "sd_db": "SD dB"}
METRICS |= {"pesq_nb": "PESQ-NB", "estoi": "eSTOI", "llr": "LLR", "wss": "WSS"}
METRICS |= {"nr_pooled": "NR pooled", "sd_pooled": "SD pooled"}
METRICS |= {"nr_db_pooled": "NR pooled dB", "sd_db_pooled": "SD pooled dB"}  # evaluate.summarize's names
