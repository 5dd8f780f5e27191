"""On-site calibration: fit a deployed encoder to one camera's scene.

- ``frames``: capture frames spread over time from the site's source; calibration / held-out split.
- ``ranges``: int8 activation ranges from histograms (percentile and entropy/KL methods; numpy only).
- ``int8``: collect the float encoder's activation histograms, build and export the int8 encoder.
- ``sitecurves``: real-bytes rate-distortion of encoders (and of JPEG) on the site's frames.
- ``rate``: the bits-versus-quality table and the highest quality within a bitrate budget.
- ``adapt``: short fine-tuning of the encoder-only transforms on the site's frames.
- ``hog``: does a people detector find the same people on decoded frames as on the originals?
- ``devicefile``: the daemon's ``device.toml`` with the calibrated settings.
- ``svgplot``: R-D curves as inline SVG (the report needs no plotting library).
- ``report``: the self-contained HTML report.
- ``staging``: all outputs appear together, or none do.
- ``options``: the run's settings and their validation (light: the CLI imports it).
- ``pipeline``: the steps in order.

The decoder side of the model is never changed, so the server's model decodes everything
a calibrated encoder writes, with the same model id.
"""
