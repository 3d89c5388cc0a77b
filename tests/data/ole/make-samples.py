import sys
H='<?xml version="1.0" encoding="UTF-8"?>\n'
NS=('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0" office:version="1.2"')
meta='<office:meta><dc:title>Referral letter</dc:title><dc:creator>Dr. Ana Novák</dc:creator><meta:creation-date>2024-03-05T10:00:00</meta:creation-date></office:meta>'
odt=H+'<office:document %s office:mimetype="application/vnd.oasis.opendocument.text">%s<office:body><office:text>' % (NS, meta) + \
 '<text:p>Referral to cardiology</text:p><text:p>Patient: Jiří Dvořák, born 1956 — “urgent”.</text:p>' + \
 '<table:table table:name="T1"><table:table-column table:number-columns-repeated="2"/><table:table-row><table:table-cell><text:p>Drug</text:p></table:table-cell><table:table-cell><text:p>Dose</text:p></table:table-cell></table:table-row>' + \
 '<table:table-row><table:table-cell><text:p>Metoprolol</text:p></table:table-cell><table:table-cell><text:p>50 mg</text:p></table:table-cell></table:table-row></table:table>' + \
 '<text:p>Kind regards, <text:a xmlns:xlink="http://www.w3.org/1999/xlink" xlink:href="http://example.org/">the clinic</text:a></text:p></office:text></office:body></office:document>'
ods=H+'<office:document %s office:mimetype="application/vnd.oasis.opendocument.spreadsheet">%s<office:body><office:spreadsheet>' % (NS, meta) + \
 '<table:table table:name="Labs"><table:table-row><table:table-cell office:value-type="string"><text:p>Test</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>Value</text:p></table:table-cell></table:table-row>' + \
 '<table:table-row><table:table-cell office:value-type="string"><text:p>Hämoglobin</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="13.5"><text:p>13.5</text:p></table:table-cell></table:table-row>' + \
 '<table:table-row><table:table-cell office:value-type="string"><text:p>Leukocytes</text:p></table:table-cell><table:table-cell office:value-type="float" office:value="7"><text:p>7</text:p></table:table-cell><table:table-cell office:value-type="string"><text:p>normal</text:p></table:table-cell></table:table-row></table:table>' + \
 '<table:table table:name="Notes"><table:table-row><table:table-cell office:value-type="string"><text:p>Repeat in two weeks</text:p></table:table-cell></table:table-row></table:table>' + \
 '</office:spreadsheet></office:body></office:document>'
def page(n, title, body, notes):
    return ('<draw:page draw:name="p%d"><draw:frame presentation:class="title" svg:x="1cm" svg:y="1cm" svg:width="20cm" svg:height="3cm"><draw:text-box><text:p>%s</text:p></draw:text-box></draw:frame>'
            '<draw:frame svg:x="1cm" svg:y="5cm" svg:width="20cm" svg:height="10cm"><draw:text-box><text:p>%s</text:p></draw:text-box></draw:frame>'
            '<presentation:notes><draw:frame presentation:class="notes" svg:x="1cm" svg:y="1cm" svg:width="15cm" svg:height="10cm"><draw:text-box><text:p>%s</text:p></draw:text-box></draw:frame></presentation:notes></draw:page>') % (n, title, body, notes)
odp=H+'<office:document %s office:mimetype="application/vnd.oasis.opendocument.presentation">%s<office:body><office:presentation>' % (NS, meta) + \
 page(1,'Ward round','Blood pressure stable','Mention the échocardiogram') + page(2,'Plan','Discharge on Friday','Ask about transport') + \
 '</office:presentation></office:body></office:document>'
for name, data in (("letter.fodt", odt), ("labs.fods", ods), ("round.fodp", odp)):
    open(name, "w", encoding="utf-8").write(data)
