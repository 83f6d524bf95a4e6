/* Whole-slide imaging buttons on the series page of Orthanc Explorer (/app/explorer.html).
 *
 * Orthanc appends this script to the Explorer (jQuery 1.7 + jQuery Mobile 1.1) through
 * ExtendOrthancExplorer. plugin/wsi/explorer.py replaces the options literal at the bottom, enabling
 * only the buttons whose target routes exist. URLs are relative to /app/ so a reverse proxy that
 * mounts Orthanc under a sub-path keeps working. */
(function (options) {
  'use strict';

  var TOOLS_ID = 'wsi-py-tools';
  var ROOT = '../wsi/';

  function seriesUrl(path, seriesId) {
    return ROOT + path.replace('{id}', encodeURIComponent(seriesId));
  }

  function absolute(relative) {
    return new URL(relative, window.location.href).href;
  }

  function linkButton(label, href, theme, icon, name) {
    return $('<a data-role="button" data-mini="true" rel="external" data-ajax="false" target="_blank"></a>')
      .attr({ href: href, 'data-theme': theme, 'data-icon': icon, 'data-wsi-button': name })
      .text(label);
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    // Plain-http pages that are not localhost have no Clipboard API: fall back to a selection copy.
    return new Promise(function (resolve, reject) {
      var area = $('<textarea readonly></textarea>').val(text).css({ position: 'fixed', top: '-1000px' });
      $('body').append(area);
      area[0].select();
      var done = document.execCommand('copy');
      area.remove();
      if (done) { resolve(); } else { reject(new Error('copy refused')); }
    });
  }

  function copyButton(seriesId) {
    var url = absolute(seriesUrl('iiif/series/{id}/manifest.json', seriesId));
    var button = $('<a href="#" data-role="button" data-mini="true" data-icon="plus"></a>')
      .attr({ 'data-theme': 'c', 'data-wsi-button': 'copy-manifest', 'data-url': url })
      .text('Copy link to IIIF manifest');
    button.on('click', function (event) {
      event.preventDefault();
      var label = button.find('.ui-btn-text');
      copyText(url).then(function () {
        label.text('Manifest link copied');
        button.attr({ 'data-copied': 'true', title: url });
      }, function () {
        label.text('Copy refused by the browser');
        button.attr({ 'data-copied': 'false', title: url });
      });
    });
    return button;
  }

  function addWholeSlideButtons(tools, seriesId) {
    var viewer = linkButton('Whole-Slide Imaging Viewer',
      ROOT + 'app/viewer.html?series=' + encodeURIComponent(seriesId), 'e', 'search', 'viewer');
    var buttons = [viewer];
    if (options.exportTiff) {
      // A download (GET /wsi/export/{id}): the pyramidal TIFF that OpenSlide, QuPath and HistoQC read.
      buttons.push(linkButton('Export as pyramidal TIFF (SVS)', seriesUrl('export/{id}', seriesId), 'c', 'arrow-d',
        'export-tiff').removeAttr('target').attr('download', seriesId + '.svs'));
    }
    if (options.openSeadragon) {
      var info = absolute(seriesUrl('iiif/tiles/{id}/info.json', seriesId));
      buttons.push(linkButton('Test IIIF in OpenSeadragon',
        ROOT + 'app/osd.html?info=' + encodeURIComponent(info), 'c', 'arrow-r', 'openseadragon'));
    }
    for (var i = buttons.length - 1; i >= 0; i--) {
      tools.prepend(buttons[i]);
      buttons[i].buttonMarkup();
    }
  }

  function isCurrent(tools, seriesId) {
    return $.contains(document, tools[0]) && tools.attr('data-series') === seriesId;
  }

  function refresh() {
    var seriesId = $.mobile.pageData && $.mobile.pageData.uuid;
    // Remove what an earlier showing of the page added, so buttons are never duplicated.
    $('#' + TOOLS_ID).remove();
    if (!seriesId) {
      return;
    }
    var tools = $('<div></div>').attr({ id: TOOLS_ID, 'data-series': seriesId });
    $('#series-info').after(tools);
    if (options.copyManifest) {
      tools.append(copyButton(seriesId).buttonMarkup());
    }
    if (options.mirador) {
      var manifest = absolute(seriesUrl('iiif/series/{id}/manifest.json', seriesId));
      tools.append(linkButton('Test IIIF in Mirador',
        ROOT + 'app/mirador.html?manifest=' + encodeURIComponent(manifest), 'c', 'arrow-r', 'mirador').buttonMarkup());
    }
    if (options.viewer) {
      // The one request per page view that tells whether the series is a whole-slide image.
      $.ajax({ url: seriesUrl('pyramids/{id}', seriesId), dataType: 'json' }).done(function () {
        if (isCurrent(tools, seriesId)) {
          addWholeSlideButtons(tools, seriesId);
        }
      });
    }
  }

  $(document).on('pagebeforeshow', '#series', refresh);
})(/*WSI_OPTIONS*/{});
